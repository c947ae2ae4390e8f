#!/usr/bin/env bash
# Fuzzes the safetensors reader with libFuzzer (ASan + UBSan), for a bounded time.
#   bash tools/fuzz.sh            60 seconds
#   bash tools/fuzz.sh 600        ten minutes
#   FUZZ_JOBS=2 bash tools/fuzz.sh  parallel processes (libFuzzer's -fork; default 1)
# Installs clang-14 and libfuzzer-14-dev if missing, builds fuzz/ in build-fuzz/,
# seeds from fuzz/corpus/ (new inputs go to build-fuzz/corpus/, not to the
# committed seeds) and fails on any crash, sanitizer report, leak or timeout;
# the input that broke it is left in build-fuzz/ (crash-*, leak-*, timeout-*).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${FUZZ_JOBS:-1}"

packages=(clang-14 libfuzzer-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
bash tools/install-deps.sh

cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-fuzz -j "$(nproc)"

mkdir -p build-fuzz/corpus
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-fuzz
parallel=()
# Fork mode keeps the report on this terminal and still stops at the first failure.
[ "$jobs" -gt 1 ] && parallel=(-fork="$jobs")
# libFuzzer exits non-zero on the first failure; set -e turns that into ours.
./fuzz_safetensors corpus ../fuzz/corpus -dict=../fuzz/safetensors.dict \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "${parallel[@]}"
echo "fuzz: no failure in ${seconds} s"
