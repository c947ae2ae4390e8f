#!/usr/bin/env bash
# Distillation from the command line on a tiny TSV task (reversing strings of letters):
#   - `train --teacher` trains a small student on the cross entropy mixed with the teacher's
#     distributions; with --distill-alpha 0 the run is bitwise the run without a teacher;
#   - a distilled run resumed in the middle ends bitwise equal to an uninterrupted one;
#   - an ensemble of teachers trains; a teacher of another task and the distillation options
#     without --teacher are refused.
# usage: check_distill.sh TAPEGRAD COMPARE_CHECKPOINTS
set -uo pipefail
tapegrad=$1 compare=$2
source "$(dirname "$0")/common.sh"

reversals 17 abcdef
reversals 18 abcdefgh other_
base=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --batch-size 16 --no-plots --warmup 3 --lr 1e-2)
"$tapegrad" train "${base[@]}" --embedding 16 --hidden 32 --steps 300 --checkpoint-every 0 --out t > t.log 2>&1 ||
  { fail "teacher: exit $?"; cat t.log; }
"$tapegrad" train "${base[@]}" --embedding 16 --hidden 32 --steps 200 --seed 3 --checkpoint-every 0 --out t2 > t2.log 2>&1 ||
  { fail "second teacher: exit $?"; cat t2.log; }
student=("${base[@]}" --embedding 8 --hidden 8 --steps 60)

"$tapegrad" train "${student[@]}" --checkpoint-every 30 --out alone > alone.log 2>&1 || { fail "student alone: exit $?"; cat alone.log; }
"$tapegrad" train "${student[@]}" --teacher t/best.safetensors --distill-alpha 0 --checkpoint-every 30 --out zero > zero.log 2>&1 ||
  { fail "--distill-alpha 0: exit $?"; cat zero.log; }
"$compare" alone/checkpoint-0000060.safetensors zero/checkpoint-0000060.safetensors > cmp0.log 2>&1 ||
  { fail "--distill-alpha 0 differs from no teacher"; cat cmp0.log; }

"$tapegrad" train "${student[@]}" --teacher t/best.safetensors --distill-alpha 0.7 --distill-temperature 3 \
  --checkpoint-every 30 --out d > d.log 2>&1 || { fail "distilled student: exit $?"; cat d.log; }
expect_in d.log '^test: BLEU [0-9.]+ ' "the distilled student's scores"
"$compare" alone/checkpoint-0000060.safetensors d/checkpoint-0000060.safetensors > same.log 2>&1 &&
  fail "a distilled student equals the one trained alone"
"$tapegrad" train --resume d/checkpoint-0000030.safetensors --out r > r.log 2>&1 || { fail "resume: exit $?"; cat r.log; }
"$compare" d/checkpoint-0000060.safetensors r/checkpoint-0000060.safetensors > cmp.log 2>&1 ||
  { fail "a resumed distilled run differs from an uninterrupted one"; cat cmp.log; }

"$tapegrad" train "${student[@]}" --teacher t/best.safetensors --teacher t2/best.safetensors --checkpoint-every 0 \
  --out e > e.log 2>&1 || { fail "an ensemble of teachers: exit $?"; cat e.log; }

# Sequence-level: the teacher's outputs as training data, the task's references for dev and test.
"$tapegrad" distill t/best.safetensors --beam 3 --out seq > seq.log 2>&1 || { fail "distill: exit $?"; cat seq.log; }
expect_in seq.log '^seq/train\.tsv: the teacher.s outputs for 300 training sources \([0-9]+ equal to one of their references\)' "distill's line"
[ "$(wc -l < seq/train.tsv)" -eq 300 ] || fail "seq/train.tsv: $(wc -l < seq/train.tsv) lines, expected 300"
cmp -s seq/dev.tsv dev.tsv || fail "seq/dev.tsv is not the task's dev references"
cmp -s seq/test.tsv test.tsv || fail "seq/test.tsv is not the task's test references"
"$tapegrad" predict t/best.safetensors --beam 3 "$(head -n 1 seq/train.tsv | cut -f 1)" > first.log 2>&1
[ "$(cat first.log)" = "$(head -n 1 seq/train.tsv)" ] || fail "seq/train.tsv's first line is not the teacher's prediction"
"$tapegrad" train --task tsv --train seq/train.tsv --dev seq/dev.tsv --test seq/test.tsv --batch-size 16 --no-plots \
  --warmup 3 --lr 1e-2 --embedding 8 --hidden 8 --steps 30 --checkpoint-every 0 --out s > s.log 2>&1 ||
  { fail "a student on the teacher's outputs: exit $?"; cat s.log; }
"$tapegrad" distill t/best.safetensors --out seq > again.log 2>&1
expect_in again.log "distill: 'seq/train\.tsv' exists; pass --overwrite" "existing files kept"

# Refusals.
"$tapegrad" train --task tsv --train other_train.tsv --dev other_dev.tsv --test other_test.tsv --no-plots \
  --embedding 8 --hidden 8 --steps 5 --checkpoint-every 0 --out o > o.log 2>&1 || fail "other task: exit $?"
"$tapegrad" train "${student[@]}" --teacher o/best.safetensors --out x > x.log 2>&1
[ $? -ne 0 ] || fail "a teacher of another task: expected a failure"
expect_in x.log "--teacher o/best\.safetensors: its vocabularies \([0-9]+ and [0-9]+ tokens\) differ from the training data's" "a teacher of another task named"
"$tapegrad" train "${student[@]}" --distill-alpha 0.5 --out y > y.log 2>&1
[ $? -eq 2 ] || fail "--distill-alpha without --teacher: expected status 2"
expect_in y.log "--distill-alpha: applies only with --teacher" "--distill-alpha alone named"

finish "distill"
