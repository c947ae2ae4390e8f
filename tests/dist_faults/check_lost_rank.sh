#!/usr/bin/env bash
# A rank killed with SIGKILL mid-training: the job must end within 60 s, non-zero, with a
# message naming the lost rank, and the checkpoint rank 0 saved must still load.
#   bash check_lost_rank.sh DIST_LOST_RANK MPIRUN
set -uo pipefail
program=$1
mpirun=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$program" "$out" >"$out/log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))
cat "$out/log"
if [ "$status" -eq 124 ]; then
  echo "check_lost_rank: the job hung (still running after 60 s)"
  exit 1
fi
if [ "$status" -eq 0 ]; then
  echo "check_lost_rank: the job exited 0 although a rank was killed"
  exit 1
fi
if ! grep -q "rank 1" "$out/log"; then
  echo "check_lost_rank: no message names the lost rank (rank 1)"
  exit 1
fi
"$program" --check "$out" || {
  echo "check_lost_rank: the checkpoint does not load"
  exit 1
}
echo "check_lost_rank: the job ended with status $status after ${elapsed} s, naming rank 1; the checkpoint loads"
