#!/usr/bin/env bash
# What one input too long or too large must never do: take all the memory, or end in a bare
# std::bad_alloc. Each run here has a time limit and, outside sanitizer builds (whose shadow
# memory needs a large address space), a 2 GB address-space limit, and must end with one line
# naming the input:
#   - a 1 MB line in a training file is skipped with a warning naming its file and line, or
#     refused with --long-lines refuse;
#   - a 10,000-character word in predict is over the model's --max-source-length (or predict's own);
#   - a decode whose estimated memory is too large is refused before it starts;
#   - a checkpoint whose configuration is impossible or does not fit its tensors (encoder_layers
#     = 100000000, a negative or overflowing size, another cell) is refused before the model is built;
#   - a model too large to train is refused before it is built;
#   - an allocation that fails anyway names the command line.
# The time and memory limits also keep a binary without these checks from taking the machine.
# usage: check_limits.sh TAPEGRAD EDIT_CHECKPOINT [sanitized]
set -uo pipefail
tapegrad=$1 edit=$2 sanitized=${3:-}
source "$(dirname "$0")/common.sh"
export OPENBLAS_NUM_THREADS=1
limited() {  # limited ARGS...: tapegrad under the time and memory limits
  ( [ -n "$sanitized" ] || ulimit -v 2000000; exec timeout 120 "$tapegrad" "$@" )
}
expect_error() {  # expect_error PATTERN ARGS...: status 1 and one line on stderr matching PATTERN
  local pattern=$1; shift
  limited "$@" > err.out 2> err.log < "${stdin:-/dev/null}"
  local status=$?
  [ $status -eq 1 ] || fail "tapegrad $(echo "$*" | cut -c 1-100): exit $status, expected 1"
  [ "$(wc -l < err.log)" -eq 1 ] || { fail "tapegrad $(echo "$*" | cut -c 1-100): one line on stderr expected"; head -c 2000 err.log; }
  expect_in err.log "$pattern" "tapegrad $(echo "$*" | cut -c 1-100)"
}
long_word() { head -c "$1" /dev/zero | tr '\0' a; }

# A tiny task (reversing strings of letters), and a training file with a 1 MB line at line 17.
awk 'BEGIN { srand(3); for (i = 0; i < 60;) { n = 2 + int(rand() * 5); s = ""; r = "";
  for (j = 0; j < n; j++) { c = substr("abcdef", 1 + int(rand() * 6), 1); s = s c; r = c (r == "" ? "" : " ") r }
  if (s in seen) continue; seen[s] = 1
  print s "\t" r > (i < 50 ? "train.tsv" : "dev.tsv"); i++ } }'
{ head -n 16 train.tsv; printf '%s\ta\n' "$(long_word 1000000)"; tail -n +17 train.tsv; } > long.tsv
run=(--task tsv --dev dev.tsv --hidden 8 --batch-size 8 --steps 2 --no-plots --checkpoint-every 0)
small=("${run[@]}" --embedding 8)

limited train "${small[@]}" --train long.tsv --out m > m.log 2> m.err || { fail "train with a long line: exit $?"; cat m.err; }
expect_in m.err '^tapegrad: warning: /.*/long\.tsv:17: the source is 1000000 tokens, over --max-source-length 256: skipped$' \
  "the long line is skipped, named"
expect_in m.log '^task tsv: 50 train' "the other 50 lines are kept"
expect_error 'long\.tsv:17: the source is 1000000 tokens, over --max-source-length 256 \(--long-lines skip' \
  train "${small[@]}" --train long.tsv --long-lines refuse --out r
expect_error 'long\.tsv:1: the target is [0-9]+ tokens, over --max-target-length 1 \(' \
  train "${small[@]}" --train long.tsv --max-target-length 1 --long-lines refuse --out r
model=m/checkpoint-0000002.safetensors

# predict: a word over the model's limit, as an argument and on stdin.
limited predict "$model" abc > p.log 2>&1 || { fail "predict abc: exit $?"; cat p.log; }
expect_error "argument 2 \\('a{20}\\.\\.\\.'\\) is 10000 tokens, over --max-source-length 256" \
  predict "$model" abc "$(long_word 10000)"
{ echo abc; echo; long_word 10000; echo; } > stdin.txt
stdin=stdin.txt expect_error "stdin line 3 .* is 10000 tokens, over --max-source-length 256" predict "$model"
# predict's and eval's --max-source-length over the model's.
limited predict "$model" --max-source-length 300 "$(long_word 300)" > raised.log 2>&1 || { fail "predict --max-source-length 300: exit $?"; cat raised.log; }
expect_error "argument 1 .* is 300 tokens, over --max-source-length 299" predict "$model" --max-source-length 299 "$(long_word 300)"
limited eval "$model" --file long.tsv --max-source-length 999999 > ev.log 2> ev.err || { fail "eval of long.tsv: exit $?"; cat ev.err; }
expect_in ev.err '^tapegrad: warning: (/.*/)?long\.tsv:17: the source is 1000000 tokens, over --max-source-length 999999: skipped$' \
  "eval skips the long line, as the model was trained to"

# A model that takes sources of any length: decoding a 100,000-character word with beam 5 would
# keep 2 x 100,010 steps of attention over 100,000 positions per beam (hundreds of GB).
limited train "${small[@]}" --train train.tsv --max-source-length 1000000 --out big > big.log 2>&1 || { fail "train big: exit $?"; cat big.log; }
expect_error 'decoding source 1 of 1 \(.a a a .*, 100000 tokens\) with beam 5 and outputs of up to 200010 tokens would take about [0-9.]+ GB, over the [0-9.]+ GB allowed' \
  predict big/checkpoint-0000002.safetensors "$(long_word 100000)"
limited predict big/checkpoint-0000002.safetensors "$(long_word 300)" > long_ok.log 2>&1 || { fail "predict of 300 characters within memory: exit $?"; cat long_ok.log; }

# Checkpoints whose configuration is impossible or does not describe their tensors.
edited() {  # edited KEY FIELD VALUE: the model with one configuration field changed, in bad.safetensors
  "$edit" "$model" bad.safetensors "$1" "$2" "$3" || fail "edit_checkpoint $*"
}
edited tapegrad.model encoder_layers 100000000
expect_error "bad\\.safetensors: the model configuration's encoder_layers is 100000000, but the file holds 2 encoder layers" predict bad.safetensors abc
expect_error "bad\\.safetensors: the model configuration's encoder_layers is 100000000, but the file holds 2 encoder layers" eval bad.safetensors --file dev.tsv
edited tapegrad.model encoder_layers 1e8
expect_error "bad\\.safetensors: the model configuration's 'encoder_layers' is 100000000\\.0, not a non-negative integer" predict bad.safetensors abc
edited tapegrad.model hidden_size -8
expect_error "bad\\.safetensors: the model configuration's 'hidden_size' is -8, not a non-negative integer" predict bad.safetensors abc
edited tapegrad.model hidden_size 9223372036854775808
expect_error "bad\\.safetensors: the model configuration is not valid: .*decoder_hidden_size" predict bad.safetensors abc
edited tapegrad.model embedding_size 4000000000
expect_error "bad\\.safetensors: the model configuration's embedding_size is 4000000000, but tensor 'encoder\\.embedding\\.weight' is \\[[0-9]+, 8\\]" predict bad.safetensors abc
edited tapegrad.model target_vocab_size 1000000000
expect_error "bad\\.safetensors: the vocabularies .* do not match the model" predict bad.safetensors abc
edited tapegrad.model cell '"gru"'  # fewer parameters than the file holds
expect_error "bad\\.safetensors: the model configuration describes [0-9]+ parameters, but the file holds [0-9]+ values" predict bad.safetensors abc
edited tapegrad.model attention '"dot"'
expect_error "bad\\.safetensors: the model configuration describes [0-9]+ parameters, but the file holds [0-9]+ values" predict bad.safetensors abc
edited tapegrad.model attention '"additive"'  # a few more: built, and the missing tensors named
expect_error "bad\\.safetensors: missing parameters decoder\\.attention\\." predict bad.safetensors abc
edited tapegrad.model dropout 1e300
expect_error "bad\\.safetensors: the model configuration is not valid: .*dropout" predict bad.safetensors abc
edited tapegrad.task max_source_length 1e30
expect_error "bad\\.safetensors: the metadata's 'tapegrad\\.task''s 'max_source_length' is 1e\\+30, not a non-negative integer" predict bad.safetensors abc

# A model too large to train is refused before it is built, with its size and the options that make it.
expect_error "the model of --embedding 10000, --hidden 10000 and 100 \\+ 1 layers has [0-9.e+]+ parameters: training it takes about [0-9.]+ GB, over the" \
  train --task tsv --train train.tsv --embedding 10000 --hidden 10000 --encoder-layers 100 --steps 1 --no-plots --out too_big

# The backstop: an allocation that fails anyway (a 1,000,000-token source let through by a raised
# limit, trained on) names the command line, not a bare std::bad_alloc. Sanitizers abort instead.
if [ -z "$sanitized" ]; then
  { printf '%s\tb a\n' "$(long_word 1000000)"; cat train.tsv; } > huge.tsv
  expect_error '^tapegrad train: out of memory \(std::bad_alloc\) running .train .*--train huge\.tsv --max-source-length 1000000' \
    train --task tsv --train huge.tsv --max-source-length 1000000 --embedding 8 --hidden 8 --steps 1 --no-plots --out oom
fi

finish
