#!/usr/bin/env bash
# `tapegrad quantize` end to end on a tiny TSV task (reversing strings of letters):
#   - int8 (per channel, per tensor, with embeddings) and f16/bf16 files: I8 weights with F32
#     scales and the scheme in the metadata, at most 30% (int8) or about 50% (half) of the
#     float32 file;
#   - eval and predict load them without flags; the int8 model scores within a few points of
#     the float one, and a half-precision one nearly the same;
#   - an int8 file quantized again is the same model; an existing OUT is kept unless
#     --overwrite; OUT = IN, int8 options with --dtype f16 and a missing IN are refused.
# usage: check_quantize.sh TAPEGRAD
set -uo pipefail
tapegrad=$1
source "$(dirname "$0")/common.sh"

reversals 11 abcdef
"$tapegrad" train --task tsv --train train.tsv --dev dev.tsv --test test.tsv --batch-size 16 --no-plots \
  --embedding 16 --hidden 32 --warmup 3 --lr 1e-2 --steps 300 --checkpoint-every 0 --out f > f.log 2>&1 ||
  { fail "train: exit $?"; cat f.log; }
size() { stat -c %s "$1"; }
wer() { sed -nE 's/^test: WER ([0-9.]+)% .*/\1/p' "$1"; }

"$tapegrad" quantize f/best.safetensors q.safetensors > q.log 2>&1 || { fail "quantize: exit $?"; cat q.log; }
expect_in q.log '^q\.safetensors: [0-9]+ weights \([0-9]+ of [0-9]+ parameters\) in int8 with per-channel scales, activations quantized per row; [0-9.]+ MB \([0-9]+% of ' "quantize's line"
"$tapegrad" inspect q.safetensors > inspect.log 2>&1 || fail "inspect: exit $?"
expect_in inspect.log '^decoder\.output\.weight +I8 ' "inspect: an I8 weight"
expect_in inspect.log '^decoder\.output\.weight\.scale +F32 +\[[0-9]+\]' "inspect: its per-channel scales"
expect_in inspect.log '^encoder\.embedding\.weight +F32 ' "inspect: tables stay float without --embeddings"
expect_in inspect.log 'tapegrad\.quantization +\{"activations":"per_row","scales":"per_channel","weights":"int8"\}' "inspect: the scheme"
ratio=$(( 100 * $(size q.safetensors) / $(size f/best.safetensors) ))
[ "$ratio" -le 30 ] || fail "int8 file is ${ratio}% of float32's, expected at most 30%"

"$tapegrad" eval f/best.safetensors --metric wer > f_eval.log 2>&1 || fail "eval float: exit $?"
"$tapegrad" eval q.safetensors --metric wer > q_eval.log 2>&1 || { fail "eval int8: exit $?"; cat q_eval.log; }
expect_in q_eval.log '^test: WER [0-9.]+% PER [0-9.]+% \(40 words\) \(beam 5\)$' "eval of the int8 model"
awk -v a="$(wer f_eval.log)" -v b="$(wer q_eval.log)" 'BEGIN { exit !(b <= a + 5 && a < 50) }' ||
  fail "int8 WER $(wer q_eval.log) against float $(wer f_eval.log): expected within 5 points of a model that learned"
"$tapegrad" predict q.safetensors abc > predict.log 2>&1 || { fail "predict int8: exit $?"; cat predict.log; }
expect_in predict.log '^abc	c b a$' "predict with the int8 model"

"$tapegrad" quantize f/best.safetensors t.safetensors --per-tensor --activations per_tensor --embeddings > t.log 2>&1 ||
  { fail "quantize --per-tensor: exit $?"; cat t.log; }
"$tapegrad" inspect t.safetensors > t_inspect.log 2>&1
expect_in t_inspect.log '^decoder\.output\.weight\.scale +F32 +\[1\]' "per-tensor: one scale"
expect_in t_inspect.log '^encoder\.embedding\.weight +I8 ' "--embeddings: the tables in int8"
expect_in t_inspect.log '"activations":"per_tensor","scales":"per_tensor"' "per-tensor: the scheme"
"$tapegrad" eval t.safetensors --metric wer > t_eval.log 2>&1 || fail "eval per-tensor: exit $?"

# Quantizing an int8 file again gives the same model.
"$tapegrad" quantize q.safetensors q2.safetensors > q2.log 2>&1 || { fail "quantize again: exit $?"; cat q2.log; }
"$tapegrad" eval q2.safetensors --metric wer > q2_eval.log 2>&1
cmp -s q_eval.log q2_eval.log || { fail "an int8 model quantized again scores differently"; cat q_eval.log q2_eval.log; }

for d in f16 bf16; do
  "$tapegrad" quantize f/best.safetensors $d.safetensors --dtype $d > $d.log 2>&1 || { fail "--dtype $d: exit $?"; cat $d.log; }
  "$tapegrad" inspect $d.safetensors | grep -q "^decoder\.output\.weight  *${d^^} " || fail "$d: weights are not ${d^^}"
  ratio=$(( 100 * $(size $d.safetensors) / $(size f/best.safetensors) ))
  [ "$ratio" -le 55 ] || fail "$d file is ${ratio}% of float32's"
  "$tapegrad" eval $d.safetensors --metric wer > ${d}_eval.log 2>&1 || fail "eval $d: exit $?"
  awk -v a="$(wer f_eval.log)" -v b="$(wer ${d}_eval.log)" 'BEGIN { exit !(b <= a + 3 && b >= a - 3) }' ||
    fail "$d WER $(wer ${d}_eval.log) against float $(wer f_eval.log)"
done

# Refusals; nothing is overwritten.
cp q.safetensors keep.safetensors
"$tapegrad" quantize f/best.safetensors keep.safetensors --dtype f16 > exists.log 2>&1
[ $? -eq 1 ] || fail "an existing OUT: expected status 1"
expect_in exists.log "quantize: 'keep\.safetensors' exists; pass --overwrite to replace it" "existing OUT named"
cmp -s q.safetensors keep.safetensors || fail "an existing OUT was changed"
"$tapegrad" quantize f/best.safetensors keep.safetensors --dtype f16 --overwrite > over.log 2>&1 || fail "--overwrite: exit $?"
"$tapegrad" quantize q.safetensors q.safetensors --overwrite > same.log 2>&1
expect_in same.log "OUT 'q\.safetensors' is IN itself" "OUT = IN refused"
cmp -s q.safetensors keep.safetensors && fail "--overwrite did not replace OUT"
"$tapegrad" quantize f/best.safetensors h.safetensors --dtype f16 --per-tensor > opts.log 2>&1
expect_in opts.log "apply to --dtype int8 only" "int8 options with --dtype f16 refused"
[ -e h.safetensors ] && fail "a refused quantize wrote its OUT"
"$tapegrad" quantize missing.safetensors m.safetensors > missing.log 2>&1
[ $? -ne 0 ] || fail "a missing IN: expected a failure"
expect_in missing.log "missing\.safetensors" "a missing IN named"

finish "quantize"
