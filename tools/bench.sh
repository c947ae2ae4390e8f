#!/usr/bin/env bash
# Benchmarks tapegrad against LibTorch (Debian's libtorch-dev, installed here for the
# benchmark only) with 1 and 2 threads. Results: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libtorch-dev
fi
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_BENCH=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF
cmake --build build-bench -j "$(nproc)" --target bench_overhead
for threads in 1 2; do
  echo "== $threads thread(s)"
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads ./build-bench/bench/bench_overhead --threads "$threads" "$@"
done
