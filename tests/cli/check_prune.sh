#!/usr/bin/env bash
# Pruning from the command line on a tiny TSV task (reversing strings of letters):
#   - `tapegrad prune` zeroes the asked fraction of the weights of products, globally or per
#     layer, and `train --init` fine-tunes the pruned model with those weights kept at zero;
#   - `train --prune-to` prunes gradually to its target, a run resumed in the middle of the
#     schedule ends bitwise equal to an uninterrupted one, and its best model keeps its zeros;
#   - pruning options without --prune-to, and --init with other model options, are refused.
# usage: check_prune.sh TAPEGRAD COMPARE_CHECKPOINTS SOURCE_DIR
set -uo pipefail
tapegrad=$1 compare=$2 source_dir=$3
source "$(dirname "$0")/common.sh"
zeros() { /usr/bin/python3 "$source_dir/tests/cli/pruned_weights.py" "$@"; }

reversals 13 abcdef
base=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --batch-size 16 --no-plots --warmup 3 --lr 1e-2)
data=("${base[@]}" --embedding 16 --hidden 32)
"$tapegrad" train "${data[@]}" --steps 200 --checkpoint-every 0 --out f > f.log 2>&1 || { fail "train: exit $?"; cat f.log; }

# One shot, then fine-tuning.
for scope in global layer; do
  "$tapegrad" prune f/best.safetensors p_$scope.safetensors --sparsity 0.7 --scope $scope > p_$scope.log 2>&1 ||
    { fail "prune --scope $scope: exit $?"; cat p_$scope.log; }
  expect_in p_$scope.log "^p_$scope\.safetensors: 70\.0% of the [0-9]+ weights of products \([0-9]+ of [0-9]+ parameters\) pruned" "prune's line"
  fraction=$(zeros p_$scope.safetensors)
  awk -v z="$fraction" 'BEGIN { exit !(z >= 0.699 && z <= 0.701) }' || fail "prune --scope $scope: $fraction of the weights are zero, expected 0.70"
done
"$tapegrad" train "${data[@]}" --init p_global.safetensors --steps 60 --checkpoint-every 0 --out ft > ft.log 2>&1 ||
  { fail "train --init: exit $?"; cat ft.log; }
expect_in ft.log '^pruned: 70\.0% of the [0-9]+ weights of products' "fine-tuning reports the sparsity kept"
zeros p_global.safetensors ft/best.safetensors > kept.log || { fail "fine-tuning revived pruned weights"; cat kept.log; }
"$tapegrad" eval p_global.safetensors --metric wer > p_eval.log 2>&1 || fail "eval pruned: exit $?"
"$tapegrad" eval ft/best.safetensors --metric wer > ft_eval.log 2>&1 || fail "eval fine-tuned: exit $?"
wer() { sed -nE 's/^test: WER ([0-9.]+)% .*/\1/p' "$1"; }
awk -v a="$(wer p_eval.log)" -v b="$(wer ft_eval.log)" 'BEGIN { exit !(b <= a) }' ||
  fail "fine-tuning did not help: WER $(wer p_eval.log) pruned, $(wer ft_eval.log) fine-tuned"

# Gradual pruning while training, resumed in the middle of the schedule.
"$tapegrad" train "${data[@]}" --prune-to 0.6 --prune-start 20 --prune-end 100 --prune-every 10 --steps 120 \
  --checkpoint-every 40 --keep 3 --out g > g.log 2>&1 || { fail "train --prune-to: exit $?"; cat g.log; }
expect_in g.log '^pruned: 60\.0% of the [0-9]+ weights of products' "the sparsity reached"
fraction=$(zeros g/checkpoint-0000120.safetensors)
awk -v z="$fraction" 'BEGIN { exit !(z >= 0.599 && z <= 0.601) }' || fail "gradual: $fraction of the weights are zero, expected 0.60"
fraction=$(zeros g/checkpoint-0000040.safetensors)
# Zhu and Gupta at step 40 of 20..100: 0.6 (1 - (1 - 20/80)^3) = 0.347.
awk -v z="$fraction" 'BEGIN { exit !(z >= 0.346 && z <= 0.348) }' || fail "gradual: $fraction zero at step 40, expected 0.347"
"$tapegrad" train --resume g/checkpoint-0000040.safetensors --out r > r.log 2>&1 || { fail "resume: exit $?"; cat r.log; }
"$compare" g/checkpoint-0000120.safetensors r/checkpoint-0000120.safetensors > cmp.log 2>&1 ||
  { fail "a run resumed during pruning differs from an uninterrupted one"; cat cmp.log; }
"$tapegrad" inspect g/best.safetensors > inspect.log 2>&1
expect_in inspect.log 'tapegrad\.pruning +\{"scope":"global","sparsity":0\.[0-9]+\}' "the best model says it is pruned"

# Refusals.
"$tapegrad" train "${data[@]}" --prune-start 5 --out x > x.log 2>&1
[ $? -eq 2 ] || fail "--prune-start without --prune-to: expected status 2"
expect_in x.log "--prune-start: applies only with --prune-to" "--prune-start alone named"
"$tapegrad" train "${base[@]}" --embedding 16 --hidden 24 --init p_global.safetensors --steps 1 --out y > y.log 2>&1
[ $? -ne 0 ] || fail "--init with another --hidden: expected a failure"
expect_in y.log "--init p_global\.safetensors: its model is .*this run's" "--init of another shape named"
"$tapegrad" prune f/best.safetensors p_global.safetensors > exists.log 2>&1
expect_in exists.log "prune: 'p_global\.safetensors' exists; pass --overwrite" "an existing OUT kept"

finish "prune"
