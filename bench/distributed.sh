#!/usr/bin/env bash
# The G2P model's training step: 1 process with 1 thread, DataParallel over 2 threads, and
# 2 MPI ranks with 1 thread each (buckets during the backward, then all at the end), in
# rounds so that each configuration sees the same machine (docs/distributed.md).
#   bash bench/distributed.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build-bench}
rounds=${2:-3}
bench=$build/bench/bench_distributed
mpirun=(mpirun --allow-run-as-root --oversubscribe -np 2)
for round in $(seq "$rounds"); do
  echo "round $round"
  "$bench" --mode single --steps 100
  "$bench" --mode threads --steps 100
  "${mpirun[@]}" "$bench" --mode ranks --steps 100
  "${mpirun[@]}" "$bench" --mode ranks --steps 100 --no-overlap
  "${mpirun[@]}" "$bench" --mode ranks --steps 100 --first-bucket-kb 256 --bucket-kb 1024
done
