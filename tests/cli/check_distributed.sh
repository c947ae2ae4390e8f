#!/usr/bin/env bash
# `mpirun -np N tapegrad train` on a tiny TSV task (reversing strings of letters):
#   - 2 ranks take the same steps as one process (parameters within 1e-5 in float32 after
#     12 steps, the same dev losses logged), and rank 0 alone writes the folder and prints;
#   - a checkpoint written by 2 ranks resumes on 1, and one written by 1 process on 2 ranks;
#   - dev and test decoded in shares on 2 ranks score as on one process;
#   - with dropout, a run is reproducible for a given number of ranks and seed;
#   - a time budget ends the run on every rank;
#   - rank 0 killed while it saves: the job ends naming it, and its checkpoints load and resume;
#   - ranks started with different options or data refuse to start and say what differs.
# usage: check_distributed.sh TAPEGRAD COMPARE_CHECKPOINTS MPIRUN
set -uo pipefail
tapegrad=$1 compare=$2 mpirun=$3
source "$(dirname "$0")/common.sh"
mpi=("$mpirun" --allow-run-as-root --oversubscribe)

awk 'BEGIN { srand(7); for (i = 0; i < 380;) { n = 2 + int(rand() * 5); s = ""; r = "";
  for (j = 0; j < n; j++) { c = substr("abcdef", 1 + int(rand() * 6), 1); s = s c; r = c (r == "" ? "" : " ") r }
  if (s in seen) continue; seen[s] = 1
  f = i < 300 ? "train.tsv" : i < 340 ? "dev.tsv" : "test.tsv"; print s "\t" r > f; i++ } }'
small=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --embedding 12 --hidden 10 --batch-size 16
       --eval-every 4 --keep 5 --warmup 3 --workers 1 --no-plots)

"$tapegrad" train "${small[@]}" --steps 12 --checkpoint-every 6 --out one > one.log 2>&1 || { fail "one process: exit $?"; cat one.log; }
"${mpi[@]}" -np 2 "$tapegrad" train "${small[@]}" --steps 12 --checkpoint-every 6 --out two > two.log 2>&1 ||
  { fail "2 ranks: exit $?"; cat two.log; }
expect_in two.log 'distributed over 2 MPI ranks' "the distributed run says so"
[ "$(grep -c '^test: ' two.log)" = 1 ] || fail "2 ranks: not one test line (rank 0 alone prints)"
"$compare" one/checkpoint-0000012.safetensors two/checkpoint-0000012.safetensors 1e-5 ||
  fail "2 ranks end away from one process"
[ "$(wc -l < two/metrics.jsonl)" = "$(wc -l < one/metrics.jsonl)" ] || fail "2 ranks: the metrics log has other lines"
dev_losses() { grep -o '"dev_loss":[0-9.e+-]*' "$1" | cut -d: -f2; }
paste <(dev_losses one/metrics.jsonl) <(dev_losses two/metrics.jsonl) |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * $1) bad = 1 } END { exit bad }' ||
  fail "2 ranks log other dev losses: $(dev_losses two/metrics.jsonl | tr '\n' ' ') against $(dev_losses one/metrics.jsonl | tr '\n' ' ')"

# Resumed on another number of ranks, both ways.
"$tapegrad" train --resume two/checkpoint-0000006.safetensors --no-plots --out two-on-one > r1.log 2>&1 ||
  { fail "2 ranks' checkpoint resumed on 1: exit $?"; cat r1.log; }
"$compare" one/checkpoint-0000012.safetensors two-on-one/checkpoint-0000012.safetensors 1e-5 ||
  fail "2 ranks' checkpoint resumed on 1 ends away from one process"
"${mpi[@]}" -np 2 "$tapegrad" train --resume one/checkpoint-0000006.safetensors --no-plots --out one-on-two > r2.log 2>&1 ||
  { fail "one process's checkpoint resumed on 2 ranks: exit $?"; cat r2.log; }
"$compare" one/checkpoint-0000012.safetensors one-on-two/checkpoint-0000012.safetensors 1e-5 ||
  fail "one process's checkpoint resumed on 2 ranks ends away from one process"

# The final scores from the same model: decoded in shares on 2 ranks, the same lines as one process.
"$tapegrad" train --resume one/checkpoint-0000012.safetensors --steps 12 --no-plots --out score1 > s1.log 2>&1 ||
  { fail "scoring on one process: exit $?"; cat s1.log; }
"${mpi[@]}" -np 2 "$tapegrad" train --resume one/checkpoint-0000012.safetensors --steps 12 --no-plots --out score2 \
  > s2.log 2>&1 || { fail "scoring on 2 ranks: exit $?"; cat s2.log; }
grep -E '^(dev|test): ' s1.log > scores1
grep -E '^(dev|test): ' s2.log > scores2
[ "$(wc -l < scores1)" = 2 ] || fail "scoring on one process: no dev and test lines"
cmp -s scores1 scores2 || fail "2 ranks score otherwise: $(cat scores2) against $(cat scores1)"

# Dropout: each rank draws its own masks, the same again for the same ranks and seed.
for run in d1 d2; do
  "${mpi[@]}" -np 2 "$tapegrad" train "${small[@]}" --dropout 0.3 --steps 8 --out $run > $run.log 2>&1 ||
    { fail "dropout on 2 ranks: exit $?"; cat $run.log; }
done
"$compare" d1/checkpoint-0000008.safetensors d2/checkpoint-0000008.safetensors ||
  fail "dropout on 2 ranks: two runs of one seed differ"

# A time budget: rank 0's clock plans and ends the run for both ranks.
"${mpi[@]}" -np 2 "$tapegrad" train "${small[@]}" --time-budget 0.05 --out budget > budget.log 2>&1 ||
  { fail "a time budget on 2 ranks: exit $?"; cat budget.log; }
expect_in budget.log '^test: ' "a time budget on 2 ranks ends with the test scores"

# Ranks with different options: every rank refuses, naming the option.
"${mpi[@]}" -np 1 "$tapegrad" train "${small[@]}" --steps 4 --lr 0.01 --out bad : \
  -np 1 "$tapegrad" train "${small[@]}" --steps 4 --lr 0.02 --out bad > bad.log 2>&1 && fail "different --lr on the ranks: exit 0"
expect_in bad.log "rank 1 and rank 0 differ in their configuration: 'optim.lr' is 0.01 on rank 0, 0.02 on rank 1" \
  "the refusal names what differs"
[ ! -e bad/metrics.jsonl ] || fail "a refused start wrote the folder"
# ... and different training files.
head -n 299 train.tsv > fewer.tsv
"${mpi[@]}" -np 1 "$tapegrad" train "${small[@]}" --steps 4 --out bad : \
  -np 1 "$tapegrad" train "${small[@]/train.tsv/fewer.tsv}" --steps 4 --out bad > bad2.log 2>&1 &&
  fail "different training files on the ranks: exit 0"
expect_in bad2.log 'rank 1 and rank 0 differ in their training data: "300 items, digest [0-9a-f]+" on rank 0, "299 items' \
  "the refusal names the data that differs"
# Rank 0 killed (SIGKILL) while it saves a checkpoint after every step: the job ends within
# 60 s naming rank 0, and every checkpoint left in the folder loads and resumes.
"${mpi[@]}" -np 2 "$tapegrad" train "${small[@]}" --steps 100000 --checkpoint-every 1 --out killed \
  > killed.log 2>&1 &
job=$!
rank0=""
for _ in $(seq 100); do  # up to 10 s for rank 0 to be saving
  for pid in $(pgrep -f -- "--out killed"); do
    tr '\0' '\n' < /proc/"$pid"/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=0 && rank0=$pid
  done
  [ -n "$rank0" ] && ls killed/checkpoint-*.safetensors > /dev/null 2>&1 && break
  sleep 0.1
done
if [ -z "$rank0" ]; then
  fail "rank 0 of the killed run not found"
else
  sleep 0.5
  kill -9 "$rank0"
  waited=0
  while kill -0 "$job" 2> /dev/null && [ "$waited" -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
  if kill -0 "$job" 2> /dev/null; then
    fail "the job still runs 60 s after rank 0 was killed"
    kill -9 "$job"
  fi
  wait "$job" && fail "the job exited 0 after rank 0 was killed"
  expect_in killed.log 'rank 0' "the job's end names the lost rank"
  for f in killed/checkpoint-*.safetensors; do
    "$tapegrad" inspect "$f" > /dev/null 2>&1 || fail "$f, left when rank 0 died, does not load"
  done
  last=$(ls killed/checkpoint-*.safetensors | tail -n 1)
  "$tapegrad" train --resume "$last" --steps 1 --no-plots --overwrite --out killed > resumed.log 2>&1 ||
    { fail "resuming from $last after rank 0 died: exit $?"; cat resumed.log; }
fi
finish "2 ranks against one process"
