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
if [ "${1:-}" = "--seq2seq" ]; then
  # The SPEC workload and decoding: bash tools/bench.sh --seq2seq [--size tiny|small|medium]
  shift
  size=all
  [ "${1:-}" = "--size" ] && size=$2
  command -v /usr/bin/time > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
  cmake --build build-bench -j "$(nproc)" --target bench_seq2seq bench_step_parts
  # tapegrad's best use of 2 threads is data parallelism (--parallel data: each half of the
  # batch on its own core, tg::DataParallel); OpenBLAS's own 2 threads come last, for comparison.
  echo "== 1 thread(s)"
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 ./build-bench/bench/bench_seq2seq --threads 1 --size "$size"
  echo "== 2 thread(s): tapegrad data-parallel"
  OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 ./build-bench/bench/bench_seq2seq --threads 2 --parallel data --size "$size"
  # Each engine in its best configuration on 2 cores: LibTorch's is 1 thread at every size.
  echo "== best on 2 cores: tapegrad 2 threads data-parallel, LibTorch 1"
  OPENBLAS_NUM_THREADS=2 ./build-bench/bench/bench_seq2seq --threads 2 --parallel data --libtorch-threads 1 --size "$size"
  echo "== tapegrad with OpenBLAS's 2 threads instead (--parallel blas), LibTorch 1"
  OPENBLAS_NUM_THREADS=2 ./build-bench/bench/bench_seq2seq --threads 2 --parallel blas --libtorch-threads 1 --size "$size"
  echo "== peak resident memory, 10 steps of one engine alone"
  for s in tiny small medium; do
    [ "$size" = all ] || [ "$size" = "$s" ] || continue
    for run in "tapegrad 1 blas" "libtorch 1 blas" "tapegrad 2 data"; do
      read -r engine threads parallel <<< "$run"
      kb=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=1 /usr/bin/time -v ./build-bench/bench/bench_seq2seq --threads "$threads" \
             --parallel "$parallel" --task train --size "$s" --engine "$engine" --steps 10 2>&1 >/dev/null | awk '/Maximum resident set size/ { print $6 }')
      echo "seq2seq $s $engine threads=$threads ($parallel) peak RSS $((kb / 1024)) MiB"
    done
  done
  exit 0
fi
cmake --build build-bench -j "$(nproc)" --target bench_overhead
for threads in 1 2; do
  echo "== $threads thread(s)"
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads ./build-bench/bench/bench_overhead --threads "$threads" "$@"
done
