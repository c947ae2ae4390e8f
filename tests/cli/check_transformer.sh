#!/usr/bin/env bash
# `tapegrad train --arch transformer` end to end on the tiny TSV task of check_train.sh
# (reversing strings of letters), and every command across architectures:
#   - a small Transformer learns the task (test BLEU well above an untrained one's);
#   - eval, predict, graph and inspect work on it;
#   - an ensemble of two Transformers, and a Transformer and an LSTM rescoring each other's n-best;
#   - a Transformer run stopped at step 6 and resumed ends bitwise equal to an uninterrupted one;
#   - options of the other architecture and heads that do not divide --embedding are refused
#     (status 2, the option named);
#   - a recurrent model saved before the architecture was stored still loads as recurrent, and a
#     Transformer configuration that does not describe its file is refused by name.
# usage: check_transformer.sh TAPEGRAD COMPARE_CHECKPOINTS EDIT_CHECKPOINT
set -uo pipefail
tapegrad=$1 compare=$2 edit=$3
source "$(dirname "$0")/common.sh"

# 300 training, 40 dev and 40 test strings of 2-6 letters (all different) and their reversals.
reversals 7 abcdef
data=(--task tsv --train train.tsv --dev dev.tsv --test test.tsv --batch-size 16 --no-plots)
transformer=(--arch transformer --embedding 32 --heads 4 --encoder-layers 2 --decoder-layers 2 --feedforward 64)
test_bleu() { tail -n 1 "$1" | sed -E 's/^test: BLEU ([0-9.]+) .*/\1/'; }

# It learns: 400 steps take it far above an untrained model (BLEU near 0 on this task).
"$tapegrad" train "${data[@]}" "${transformer[@]}" --lr 3e-3 --warmup 50 --steps 400 --eval-every 100 \
  --checkpoint-every 0 --out t > t.log 2>&1 || { fail "train --arch transformer: exit $?"; cat t.log; }
expect_in t.log '^model: [0-9]+ parameters' "model line"
bleu=$(test_bleu t.log)
awk -v b="$bleu" 'BEGIN { exit !(b > 60) }' || { fail "transformer: test BLEU $bleu, expected above 60"; tail -n 3 t.log; }
"$tapegrad" train "${data[@]}" "${transformer[@]}" --steps 1 --checkpoint-every 0 --out u > u.log 2>&1 || fail "untrained: exit $?"
untrained=$(test_bleu u.log)
awk -v b="$bleu" -v u="$untrained" 'BEGIN { exit !(b > u + 40) }' || fail "trained BLEU $bleu is not far above untrained $untrained"

# eval, predict, graph and inspect on it.
"$tapegrad" eval t/best.safetensors --metric wer > eval.log 2>&1 || { fail "eval: exit $?"; cat eval.log; }
expect_in eval.log '^test: WER [0-9.]+% PER [0-9.]+% \(40 words\) \(beam 5\)$' "eval on the test split"
"$tapegrad" predict t/best.safetensors --n-best 2 abc > predict.log 2>&1 || { fail "predict: exit $?"; cat predict.log; }
[ "$(grep -c '^abc	' predict.log)" -eq 2 ] || { fail "predict --n-best 2: two lines for abc"; cat predict.log; }
expect_in predict.log '^abc	1	c b a	-?[0-9]+\.[0-9]{4}$' "predict: abc reversed, first"
"$tapegrad" graph t/best.safetensors --out step.svg > graph.log 2>&1 || { fail "graph: exit $?"; cat graph.log; }
grep -q '<svg' step.svg || fail "graph: step.svg is not SVG"
grep -q 'self_attn\|multihead_attn\|attention' step.svg || fail "graph: no attention in the Transformer's graph"
"$tapegrad" inspect t/best.safetensors > inspect.log 2>&1 || fail "inspect: exit $?"
expect_in inspect.log '^transformer\.decoder\.layers\.1\.multihead_attn\.in_proj_weight +F32 +\[96, 32\]' "inspect: tensors"
expect_in inspect.log '"architecture":"transformer".*"d_model":32,"nhead":4' "inspect: the configuration"

# An ensemble: a Transformer with itself scores as it alone; two Transformers decode together.
"$tapegrad" train "${data[@]}" "${transformer[@]}" --lr 3e-3 --warmup 50 --steps 300 --seed 2 \
  --checkpoint-every 0 --out t2 > t2.log 2>&1 || { fail "second transformer: exit $?"; cat t2.log; }
"$tapegrad" eval t/best.safetensors --ensemble t/best.safetensors --metric wer > ens_self.log 2>&1 || fail "eval --ensemble (itself): exit $?"
expect_in ens_self.log "^$(sed 's/ (beam 5)$//' eval.log | sed 's/[.()]/\\&/g') \\(beam 5, ensemble of 2\\)$" "a transformer ensembled with itself"
"$tapegrad" eval t/best.safetensors --ensemble t2/best.safetensors > ens.log 2>&1 || { fail "eval --ensemble: exit $?"; cat ens.log; }
expect_in ens.log '^test: BLEU [0-9.]+ .* \(beam 5, ensemble of 2\)$' "ensemble of two transformers"

# Across architectures: an LSTM (as check_train.sh's) and the Transformer rescore each other's n-best.
"$tapegrad" train "${data[@]}" --embedding 12 --hidden 16 --warmup 3 --lr 1e-2 --steps 200 --checkpoint-every 0 \
  --out l > l.log 2>&1 || { fail "lstm: exit $?"; cat l.log; }
"$tapegrad" eval t/best.safetensors > t_eval.log 2>&1 || fail "eval t: exit $?"
"$tapegrad" eval t/best.safetensors --rescore t/best.safetensors > t_self.log 2>&1 || fail "eval --rescore (itself): exit $?"
expect_in t_self.log "^$(sed 's/ (beam 5)$//' t_eval.log | sed 's/[.()]/\\&/g') \\(beam 5, rescored with 1 more\\)$" "a transformer rescoring itself"
for pair in "t l" "l t"; do
  set -- $pair
  "$tapegrad" eval "$1/best.safetensors" --rescore "$2/best.safetensors" > "rescore_$1$2.log" 2>&1 ||
    { fail "eval $1 --rescore $2: exit $?"; cat "rescore_$1$2.log"; }
  expect_in "rescore_$1$2.log" '^test: BLEU [0-9.]+ .* \(beam 5, rescored with 1 more\)$' "$1 rescored by $2"
  "$tapegrad" predict "$1/best.safetensors" --rescore "$2/best.safetensors" --n-best 3 abc > "rescore_$1$2_predict.log" 2>&1 ||
    fail "predict $1 --rescore $2: exit $?"
  expect_in "rescore_$1$2_predict.log" '^abc	1	c b a	' "predict $1 --rescore $2: abc reversed, first"
done
# Both directions pool the same candidates and score each with both models: the same ranking.
cmp -s <(sed 's/ (.*//' rescore_tl.log) <(sed 's/ (.*//' rescore_lt.log) ||
  { fail "t rescored by l and l rescored by t differ"; cat rescore_tl.log rescore_lt.log; }
# An ensemble mixes architectures too (same vocabularies and direction).
"$tapegrad" eval t/best.safetensors --ensemble l/best.safetensors > mixed.log 2>&1 || { fail "mixed ensemble: exit $?"; cat mixed.log; }
expect_in mixed.log '\(beam 5, ensemble of 2\)$' "an ensemble of a transformer and an lstm"

# Resumed from step 6 (with dropout): bitwise the same parameters and optimizer state at step 12.
small=("${data[@]}" --arch transformer --embedding 16 --heads 2 --encoder-layers 1 --decoder-layers 2
       --norm pre --positional learned --activation gelu --dropout 0.2 --eval-every 4 --warmup 3)
"$tapegrad" train "${small[@]}" --steps 12 --checkpoint-every 6 --out a > a.log 2>&1 || { fail "a: exit $?"; cat a.log; }
"$tapegrad" train --resume a/checkpoint-0000006.safetensors --out b > b.log 2>&1 || { fail "resume: exit $?"; cat b.log; }
expect_in b.log 'resuming at step 6' "resume note"
"$compare" a/checkpoint-0000012.safetensors b/checkpoint-0000012.safetensors > cmp.log 2>&1 ||
  { fail "resumed transformer run differs"; cat cmp.log; }
"$tapegrad" train --resume a/checkpoint-0000012.safetensors --norm post --out a > norm.log 2>&1
status=$?
[ $status -eq 2 ] || { fail "resume with another --norm: exit $status, expected 2"; cat norm.log; }
expect_in norm.log '--norm: given post, but a/checkpoint-0000012\.safetensors was trained with --norm pre' "another --norm refused"

# Refused options: status 2 and the option named, before any data is read.
expect_usage() {  # expect_usage PATTERN ARGS...
  local pattern=$1; shift
  "$tapegrad" train "${data[@]}" "$@" --out refused > usage.log 2>&1
  local status=$?
  [ $status -eq 2 ] || { fail "train $*: exit $status, expected 2"; cat usage.log; }
  expect_in usage.log "$pattern" "train $*"
  [ ! -e refused ] || fail "train $*: a refused run made its folder"
}
expect_usage '--cell: an option of --arch rnn, not of --arch transformer' --arch transformer --cell gru
expect_usage '--hidden: an option of --arch rnn' --arch transformer --hidden 32
expect_usage '--norm: an option of --arch transformer, not of --arch rnn' --norm pre
expect_usage '--heads: 4 heads do not divide --embedding 30' --arch transformer --embedding 30
expect_usage '--arch: cnn not in \{rnn,transformer\}|--arch' --arch cnn
expect_usage '--positional: rotary not in' --arch transformer --positional rotary
expect_usage '--feedforward' --arch transformer --feedforward -1

# A recurrent model saved before the architecture was stored (no "architecture") loads as one,
# with the same scores.
"$edit" l/best.safetensors old.safetensors tapegrad.model architecture '' || fail "edit_checkpoint: remove architecture"
"$tapegrad" inspect old.safetensors | grep -q '"architecture"' && fail "old.safetensors still names its architecture"
"$tapegrad" eval l/best.safetensors > l_eval.log 2>&1 || fail "eval l: exit $?"
"$tapegrad" eval old.safetensors > old_eval.log 2>&1 || { fail "eval of a model without an architecture: exit $?"; cat old_eval.log; }
cmp -s l_eval.log old_eval.log || { fail "a model without an architecture scores otherwise"; cat l_eval.log old_eval.log; }

# A Transformer configuration that does not describe its file: refused by name, never allocated.
expect_error() {  # expect_error PATTERN ARGS...
  local pattern=$1; shift
  "$tapegrad" "$@" > err.out 2> err.log
  local status=$?
  [ $status -eq 1 ] || fail "tapegrad $*: exit $status, expected 1"
  expect_in err.log "$pattern" "tapegrad $*"
}
"$edit" t/best.safetensors bad.safetensors tapegrad.model num_encoder_layers 100000000 || fail "edit num_encoder_layers"
expect_error "bad\\.safetensors: the model configuration's num_encoder_layers is 100000000, but the file holds 2 encoder layers" eval bad.safetensors
"$edit" t/best.safetensors bad.safetensors tapegrad.model d_model 4096 || fail "edit d_model"
expect_error "bad\\.safetensors: the model configuration's d_model is 4096, but tensor 'source_embedding\\.weight' is \\[10, 32\\]" eval bad.safetensors
"$edit" t/best.safetensors bad.safetensors tapegrad.model architecture '"cnn"' || fail "edit architecture"
expect_error "bad\\.safetensors: the model configuration's 'architecture' is 'cnn', not rnn or transformer" predict bad.safetensors abc
"$edit" t/best.safetensors bad.safetensors tapegrad.model architecture '"rnn"' || fail "edit architecture to rnn"
expect_error "bad\\.safetensors: the model configuration has no 'embedding_size'" eval bad.safetensors

finish
