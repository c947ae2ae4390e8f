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
  # The SPEC workload and decoding, every configuration of both engines round robin (tapegrad
  # 1, 2-data, 2-blas; LibTorch intra-op / OpenBLAS threads 1/1, 1/2, 2/1, 2/2), the whole
  # table --runs times (default 3) and the medians:
  #   bash tools/bench.sh --seq2seq [--size tiny|small|medium|transformer-small|transformer|rnn] [--runs R]
  shift
  size=all
  runs=3
  while [ $# -gt 0 ]; do
    case "$1" in
      --size) size=${2:?--size needs tiny, small, medium, transformer-small, transformer or rnn} ;;
      --runs) runs=${2:?--runs needs a count} ;;
      *) echo "tools/bench.sh --seq2seq: unknown option $1 (--size S, --runs R)" >&2; exit 1 ;;
    esac
    shift 2
  done
  command -v /usr/bin/time > /dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
  cmake --build build-bench -j "$(nproc)" --target bench_seq2seq bench_step_parts
  # The benchmark sets every thread count itself, before each run of each configuration.
  echo "== this machine's instruction-set level"
  ./build-bench/bench/bench_seq2seq --size "$size" --runs "$runs"
  if grep -q avx512bw /proc/cpuinfo; then
    # tapegrad's own dispatch, OpenBLAS's and libxsmm's kernels (TAPEGRAD_ISA) and LibTorch's
    # (ATEN_CPU_CAPABILITY) all at AVX2: the figures of an AVX2-only CPU.
    echo "== AVX2 (TAPEGRAD_ISA=avx2 ATEN_CPU_CAPABILITY=avx2)"
    TAPEGRAD_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 ./build-bench/bench/bench_seq2seq --size "$size" --runs "$runs"
  else
    echo "== AVX2: this machine has no AVX-512, so the table above is the AVX2 table"
  fi
  echo "== peak resident memory, 10 steps of one engine alone"
  for s in tiny small medium transformer-small transformer; do
    case "$size" in
      all | "$s") ;;
      rnn) [[ "$s" == transformer* ]] && continue ;;
      *) continue ;;
    esac
    for run in "tapegrad 1" "libtorch 1/1" "tapegrad 2-data"; do
      read -r engine config <<< "$run"
      [ "$s" = tiny ] && [ "$config" = 2-data ] && continue  # a batch of one sentence does not split
      kb=$(/usr/bin/time -v ./build-bench/bench/bench_seq2seq --task train --size "$s" --engine "$engine" \
             --configs "$config" --steps 10 2>&1 >/dev/null | awk '/Maximum resident set size/ { print $6 }')
      echo "seq2seq $s $engine $config peak RSS $((kb / 1024)) MiB"
    done
  done
  exit 0
fi
cmake --build build-bench -j "$(nproc)" --target bench_overhead
for threads in 1 2; do
  echo "== $threads thread(s)"
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads ./build-bench/bench/bench_overhead --threads "$threads" "$@"
done
