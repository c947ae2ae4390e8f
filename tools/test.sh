#!/usr/bin/env bash
# Installs the dependencies, builds tapegrad with warnings as errors, and runs every test.
#   bash tools/test.sh              Release build in build/
#   bash tools/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/,
#                                   compiled by clang-14: CI builds and runs every test with both compilers
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  # The examples are left out: the Release run covers them, and CI's time is better
  # spent on the tests under the sanitizers.
  # -O1 without debug information compiles much faster than RelWithDebInfo;
  # the sanitizers' reports still name every function.
  flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 -DTAPEGRAD_SANITIZE=ON -DTAPEGRAD_BUILD_EXAMPLES=OFF
         -DCMAKE_CXX_COMPILER=clang++-14)
fi

bash tools/install-deps.sh
# A folder configured by another compiler would be configured again by CMake without
# the options below: start it afresh instead.
if [ -f "$build_dir/CMakeCache.txt" ]; then
  want=""
  for f in "${flags[@]}"; do
    case "$f" in -DCMAKE_CXX_COMPILER=*) want=$(command -v "${f#-DCMAKE_CXX_COMPILER=}") ;; esac
  done
  have=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
  if [ -n "$want" ] && [ "$(readlink -f "$have")" != "$(readlink -f "$want")" ]; then rm -rf "$build_dir"; fi
fi
cmake -S . -B "$build_dir" -DTAPEGRAD_WERROR=ON "${flags[@]}"
cmake --build "$build_dir" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build_dir" && ctest --output-on-failure -j "$(nproc)"
