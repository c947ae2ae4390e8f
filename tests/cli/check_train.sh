#!/usr/bin/env bash
# `tapegrad train`, `eval`, `predict` and `graph` end to end on a tiny TSV task
# (reversing strings of letters), and what must never happen to a user's data:
#   - a run stopped after step 6 and resumed ends bitwise equal to an uninterrupted one;
#   - the losses it logs after the resume are those of the uninterrupted run;
#   - a resumed run keeps every option it was given (those that shape it cannot change);
#   - Ctrl-C writes a checkpoint and exits with status 130, and the run resumes from it;
#   - a diverging run (NaN losses) stops with an error and never saves a NaN model;
#   - data paths are saved absolute: resume and eval work from another folder, and
#     eval --split dev needs no training file;
#   - a failed save (file too large for the disk's limit) leaves the existing checkpoint intact;
#   - bad input (missing file, malformed line, empty corpus, a file that is not a tapegrad
#     model, a model where a training checkpoint is needed) is one clear line naming it.
# usage: check_train.sh TAPEGRAD COMPARE_CHECKPOINTS SOURCE_DIR
set -uo pipefail
tapegrad=$1 compare=$2 source_dir=$3
source "$(dirname "$0")/common.sh"

# 300 training, 40 dev and 40 test strings of 2-6 letters (all different) and their reversals.
reversals 7 abcdef
small=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --embedding 12 --hidden 10 --batch-size 16
       --eval-every 4 --keep 5 --dropout 0.3 --warmup 3)

# An uninterrupted run of 12 steps, with checkpoints at 6 and 12.
"$tapegrad" train "${small[@]}" --steps 12 --checkpoint-every 6 --out a > a.log 2>&1 || { fail "train exit $?"; cat a.log; }
for f in best.safetensors checkpoint-0000006.safetensors checkpoint-0000012.safetensors metrics.jsonl loss.png attention.png; do
  [ -s "a/$f" ] || fail "train left no a/$f"
done
expect_in a.log '^dev \(40 sentences, greedy\)|dev \(40 sentences, greedy\)' "dev scores while training"
tail -n 1 a.log > last.log
expect_in last.log '^test: BLEU [0-9.]+ ROUGE-1 [0-9.]+ ROUGE-2 [0-9.]+ ROUGE-L [0-9.]+ \(40 sentences\)$' "test scores on the last line"
expect_in a/metrics.jsonl '"dev_bleu"' "metrics log"
head -c 8 a/loss.png | od -An -c | grep -q 'P   N   G' || fail "loss.png is not a PNG"

# Resumed from step 6: bitwise the same parameters and optimizer state at step 12.
"$tapegrad" train --resume a/checkpoint-0000006.safetensors --out b > b.log 2>&1 || { fail "resume exit $?"; cat b.log; }
expect_in b.log 'resuming at step 6' "resume note"
"$compare" a/checkpoint-0000012.safetensors b/checkpoint-0000012.safetensors > cmp.log 2>&1 || { fail "resumed run differs"; cat cmp.log; }

# The running mean of the loss is part of the position: the losses logged after a resume (every
# 50 steps) are those of the uninterrupted run, and so is every dev record.
"$tapegrad" train "${small[@]}" --steps 110 --checkpoint-every 70 --no-plots --out m > m.log 2>&1 || { fail "m: exit $?"; cat m.log; }
"$tapegrad" train --resume m/checkpoint-0000070.safetensors --out m2 > m2.log 2>&1 || { fail "m2: exit $?"; cat m2.log; }
after70() { grep '"step"' "$1" | sed -E 's/"(elapsed|tokens_per_second)":[^,}]*,?//g' | awk -F'"step":' '{ split($2, n, /[,}]/); if (n[1] > 70) print }'; }
after70 m/metrics.jsonl > m.after
after70 m2/metrics.jsonl > m2.after
grep -q '"loss"' m.after || fail "no training loss logged after step 70"
cmp -s m.after m2.after || { fail "metrics.jsonl after the resume differs from the uninterrupted run's:"; diff m.after m2.after; }

# Every option is saved: a resumed run checkpoints as often, keeps as many, draws no plots and
# decodes with the beam it was given; --steps may change, an option that shapes the run may not.
"$tapegrad" train --task tsv --train train.tsv --dev dev.tsv --embedding 12 --hidden 10 --batch-size 16 \
  --steps 6 --checkpoint-every 3 --keep 2 --beam 2 --no-plots --out o > o.log 2>&1 || { fail "o: exit $?"; cat o.log; }
"$tapegrad" train --resume o/checkpoint-0000006.safetensors --steps 12 --out o > o2.log 2>&1 || { fail "o resumed: exit $?"; cat o2.log; }
[ "$(ls o | tr '\n' ' ')" = "best.safetensors checkpoint-0000009.safetensors checkpoint-0000012.safetensors metrics.jsonl run.json " ] ||
  { fail "resumed with its options: checkpoints 9 and 12, no plots expected:"; ls o; }
expect_in o2.log '^dev: .*\(beam 2\)$' "resumed run's beam"
"$tapegrad" train --resume o/checkpoint-0000012.safetensors --lr 0.5 --out o > o3.log 2>&1
status=$?
[ $status -eq 2 ] || { fail "resume with another --lr: exit $status, expected 2"; cat o3.log; }
expect_in o3.log '--lr: given 0.5, but o/checkpoint-0000012\.safetensors was trained with --lr' "another --lr refused"

# Divergence: non-finite losses stop the run with an error naming the step, and no model
# with non-finite parameters becomes best.safetensors or a checkpoint.
"$tapegrad" train "${small[@]}" --lr 1e308 --clip-norm 0 --steps 40 --checkpoint-every 2 --out nan > nan.log 2> nan.err
status=$?
[ $status -eq 1 ] || { fail "diverging run: exit $status, expected 1"; cat nan.log nan.err; }
expect_in nan.err '^tapegrad train: step [0-9]+: the training loss has been (nan|inf|-nan) for 5 steps in a row: the run diverged' "divergence error"
[ ! -e nan/best.safetensors ] || fail "a diverged model was saved as best.safetensors"
for f in nan/checkpoint-*.safetensors; do
  [ -e "$f" ] || continue
  "$tapegrad" inspect "$f" > /dev/null 2>&1 || fail "$f does not load"
  "$tapegrad" predict "$f" abc | grep -qi nan && fail "$f holds non-finite parameters"
done

# Relative data paths are saved absolute: from another folder, resume and eval find them, and
# eval --split dev needs only the dev file.
mkdir -p rel/data
cp train.tsv rel/data/rtrain.tsv
cp dev.tsv rel/data/rdev.tsv
( cd rel && "$tapegrad" train --task tsv --train data/rtrain.tsv --dev data/rdev.tsv --embedding 8 --hidden 8 \
    --steps 2 --no-plots --out run ) > rel.log 2>&1 || { fail "rel: exit $?"; cat rel.log; }
"$tapegrad" train --resume rel/run/checkpoint-0000002.safetensors --steps 3 --out rel2 > rel2.log 2>&1 ||
  { fail "resume from another folder: exit $?"; cat rel2.log; }
rm rel/data/rtrain.tsv
"$tapegrad" eval rel/run/best.safetensors --split dev --beam 1 > rel_eval.log 2>&1 || { fail "eval --split dev without the training file: exit $?"; cat rel_eval.log; }
expect_in rel_eval.log '^dev: BLEU' "eval --split dev from another folder"

# eval, predict and graph on the best model.
"$tapegrad" eval a/best.safetensors --split test --metric wer > eval.log 2>&1 || fail "eval exit $?"
expect_in eval.log '^test: WER [0-9.]+% PER [0-9.]+% \(40 words\) \(beam 5\)$' "eval on the test split"
"$tapegrad" eval a/best.safetensors --file dev.tsv --beam 1 > eval2.log 2>&1 || fail "eval --file exit $?"
expect_in eval2.log 'dev.tsv: BLEU' "eval on a file"
"$tapegrad" predict a/best.safetensors abc fedcba > predict.log 2>&1 || fail "predict exit $?"
[ "$(wc -l < predict.log)" -eq 2 ] || { fail "predict: two lines expected"; cat predict.log; }
expect_in predict.log '^abc	' "predict output"
printf 'ab\ncd\n' | "$tapegrad" predict a/best.safetensors --n-best 3 > nbest.log 2>&1 || fail "predict stdin exit $?"
[ "$(grep -c '^ab	' nbest.log)" -eq 3 ] || { fail "predict --n-best 3: three lines for ab"; cat nbest.log; }
expect_in nbest.log '^cd	3	.*	-?[0-9]+\.[0-9]{4}$' "n-best line with a score"
# An ensemble: a model with itself scores as the model alone; two checkpoints decode together.
"$tapegrad" eval a/best.safetensors --ensemble a/best.safetensors --split test --metric wer > ens.log 2>&1 || fail "eval --ensemble exit $?"
expect_in ens.log "^$(sed 's/ (beam 5)$//' eval.log | sed 's/[.()]/\\&/g') \\(beam 5, ensemble of 2\\)$" "ensemble of a model with itself"
"$tapegrad" predict a/best.safetensors --ensemble a/checkpoint-0000006.safetensors abc > ens_predict.log 2>&1 || fail "predict --ensemble exit $?"
[ "$(wc -l < ens_predict.log)" -eq 1 ] || { fail "predict --ensemble: one line expected"; cat ens_predict.log; }
expect_in ens_predict.log '^abc	' "predict --ensemble output"
# Right to left (--reverse-target): on this task (reversal) such a model learns to copy, and
# decoding puts its output back in order, so it scores well only if that works.
learned=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --embedding 12 --hidden 16 --batch-size 16
         --warmup 3 --lr 1e-2 --steps 200 --no-plots --checkpoint-every 0)
"$tapegrad" train "${learned[@]}" --reverse-target --out r > r.log 2>&1 || { fail "train --reverse-target exit $?"; cat r.log; }
"$tapegrad" train "${learned[@]}" --out l > l.log 2>&1 || { fail "train (left to right) exit $?"; cat l.log; }
bleu=$(tail -n 1 r.log | sed -E 's/^test: BLEU ([0-9.]+) .*/\1/')
awk -v b="$bleu" 'BEGIN { exit !(b > 80) }' || { fail "right-to-left model: test BLEU $bleu, expected above 80"; tail -n 3 r.log; }
# Rescoring: a model rescoring its own n-best ranks it as its beam did; left to right with right
# to left runs; an ensemble must decode in one direction.
"$tapegrad" eval l/best.safetensors > l_eval.log 2>&1 || fail "eval l exit $?"
"$tapegrad" eval l/best.safetensors --rescore l/best.safetensors > l_self.log 2>&1 || fail "eval --rescore (itself) exit $?"
expect_in l_self.log "^$(sed 's/ (beam 5)$//' l_eval.log | sed 's/[.()]/\\&/g') \\(beam 5, rescored with 1 more\\)$" "a model rescoring itself"
"$tapegrad" eval l/best.safetensors --rescore r/best.safetensors > lr.log 2>&1 || fail "eval --rescore exit $?"
expect_in lr.log '^test: BLEU [0-9.]+ .* \(beam 5, rescored with 1 more\)$' "left to right rescored by right to left"
"$tapegrad" predict l/best.safetensors --rescore r/best.safetensors --n-best 3 abc > lr_predict.log 2>&1 || fail "predict --rescore exit $?"
[ "$(wc -l < lr_predict.log)" -eq 3 ] || { fail "predict --rescore --n-best 3: three lines expected"; cat lr_predict.log; }
expect_in lr_predict.log '^abc	1	c b a	' "predict --rescore: abc reversed, first"
"$tapegrad" graph a/best.safetensors --out step.svg > graph.log 2>&1 || fail "graph exit $?"
grep -q '<svg' step.svg || fail "graph: step.svg is not SVG"

# A time budget: the horizon is planned from timed steps, then planned again from the
# steps taken once 15% and once half of the budget has gone.
"$tapegrad" train "${small[@]}" --time-budget 0.05 --no-plots --out t > t.log 2>&1 || { fail "time budget exit $?"; cat t.log; }
expect_in t.log '^measured [0-9]+ ms per step: about [0-9]+ steps fit 0.05 minutes$' "first plan"
expect_in t.log '[0-9]+ ms per step over the last [0-9]+ steps, evaluations included: [0-9]+ steps fit 0.05 minutes' "second plan"
# A busy machine may also end a plan early, which is planned again, saying so.
[ "$(grep 'ms per step over the last' t.log | grep -vc '^the plan ends with')" -eq 2 ] ||
  { fail "time budget: two plans after the first expected"; cat t.log; }
expect_in t.log '^trained [0-9]+ steps in' "time-budget run's end"

# Ctrl-C: a checkpoint, status 130, and the run continues from it.
"$tapegrad" train "${small[@]}" --steps 100000000 --checkpoint-every 0 --no-plots --out c > c.log 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -s c/metrics.jsonl ] && break; sleep 0.1; done
kill -INT $pid
wait $pid
status=$?
[ $status -eq 130 ] || fail "Ctrl-C: exit $status, expected 130"
expect_in c.log 'interrupted by SIGINT at step [0-9]+: checkpoint written to c/checkpoint-[0-9]{7}\.safetensors' "Ctrl-C note"
ckpt=$(ls c/checkpoint-*.safetensors | tail -n 1)
[ -s "$ckpt" ] || fail "Ctrl-C left no checkpoint"

# A save that fails (the file-size limit stands in for a full disk) names the file and
# leaves the checkpoint already there untouched, with no temporary file beside it.
cp a/checkpoint-0000012.safetensors before.safetensors
cp a/best.safetensors best_before.safetensors
( trap '' XFSZ; ulimit -f 40; exec "$tapegrad" train --resume a/checkpoint-0000012.safetensors --steps 18 --out a ) > full.log 2>&1
status=$?
[ $status -eq 1 ] || { fail "failed save: exit $status, expected 1"; cat full.log; }
expect_in full.log "a/(best|checkpoint-0000018)\\.safetensors" "failed save names the file"
cmp -s before.safetensors a/checkpoint-0000012.safetensors || fail "failed save changed the existing checkpoint"
cmp -s best_before.safetensors a/best.safetensors || fail "failed save changed the best model"
[ -z "$(ls a | grep -v -E '^(best|checkpoint-[0-9]{7})\.safetensors$|^metrics\.jsonl$|^run\.json$|\.png$')" ] || { fail "files left behind:"; ls a; }

# Bad input: one line on stderr naming what is wrong, status 1.
expect_error() {  # expect_error PATTERN ARGS...
  local pattern=$1; shift
  "$tapegrad" "$@" > err.out 2> err.log
  local status=$?
  [ $status -eq 1 ] || fail "tapegrad $*: exit $status, expected 1"
  [ "$(wc -l < err.log)" -eq 1 ] || { fail "tapegrad $*: one line on stderr expected"; cat err.log; }
  expect_in err.log "$pattern" "tapegrad $*"
}
expect_error 'missing\.tsv' train --task tsv --train missing.tsv --out d
printf 'abc\tc b a\nno tab here\n' > bad.tsv
expect_error 'bad\.tsv:2' train --task tsv --train bad.tsv --out d
: > empty.tsv
expect_error 'empty\.tsv' train --task tsv --train empty.tsv --out d
printf 'ab\xff\tb a\n' > utf8.tsv
expect_error 'utf8\.tsv:1.*byte' train --task tsv --train utf8.tsv --out d
expect_error 'not a model saved by tapegrad train' eval "$source_dir/tests/fixtures/torch_model.safetensors"
expect_error 'not a training checkpoint' train --resume a/best.safetensors --out d
printf 'xyz\tz y x\n' > other.tsv
"$tapegrad" train --task tsv --train other.tsv --dev other.tsv --embedding 4 --hidden 4 --steps 1 --no-plots --out g > g.log 2>&1 || fail "other vocabulary: exit $?"
expect_error 'g/best\.safetensors: its vocabularies' eval a/best.safetensors --ensemble g/best.safetensors
expect_error 'r/best\.safetensors writes targets right to left but l/best\.safetensors writes them left to right' \
  eval l/best.safetensors --ensemble r/best.safetensors
expect_error 'not-a-file' predict not-a-file abc

finish
