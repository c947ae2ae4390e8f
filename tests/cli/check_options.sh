#!/usr/bin/env bash
# What the command line refuses before it does any work:
#   - every numeric option of every subcommand, read from its --help (so a new one is covered),
#     given -1, 0, nan, inf and 2^64: refused with exit status 2 and a message naming the option,
#     or accepted because the allow-list below says why (and then it fails later, on a missing file);
#   - sizes that overflowed (--batch-size 2^63, --epochs 2^64/3, --time-budget 1e300);
#   - options that conflict (--bidirectional --unidirectional, eval --split with --file) and
#     options that would fail only at the end (--words '', --heads not dividing the decoder size);
#   - predict's sources: a byte order mark and a CR at the end of stdin are dropped, invalid
#     UTF-8 names the argument or the stdin line;
#   - a FIFO or a folder given as a checkpoint is refused at once, naming it (never blocks).
# usage: check_options.sh TAPEGRAD
set -uo pipefail
tapegrad=$1
source "$(dirname "$0")/common.sh"

# run EXPECTED_STATUS PATTERN WHAT -- COMMAND...: the status, and PATTERN in stderr.
run() {
  local want=$1 pattern=$2 what=$3
  shift 4
  timeout 20 "$@" > out.log 2> err.log < /dev/null
  local got=$?
  if [ "$got" -ne "$want" ] || ! grep -Eq -- "$pattern" err.log; then
    fail "$what: status $got (expected $want), stderr (expected /$pattern/):"
    cat err.log
  fi
}

# The values each numeric option is tried with; the last is 2^64.
values=(-1 0 nan inf 18446744073709551616)
# Accepted values, and why ("COMMAND OPTION VALUE: reason").
allowed="
train --decoder-hidden 0: directions x --hidden
train --attention-size 0: the key size
train --feedforward 0: 4 x --embedding
train --dropout 0: no dropout
train --label-smoothing 0: no smoothing
train --weight-decay 0: no decay
train --momentum 0: no momentum
train --warmup 0: no warmup
train --min-lr 0: cosine down to 0
train --lr 18446744073709551616: any finite rate (one that diverges stops the run: check_train.sh)
train --min-lr 18446744073709551616: any finite rate
train --patience 0: decay at every evaluation without improvement
train --clip-norm 0: no clipping
train --epochs 0: no limit
train --steps 0: no limit
train --time-budget 0: no budget
train --eval-every 0: once per epoch
train --dev-sample 0: all of dev
train --checkpoint-every 0: only at the end
train --seed 0: a seed like any other
train --prune-to 0: no pruning
eval --limit 0: all items
eval --length-penalty 0: no length penalty
predict --length-penalty 0: no length penalty
eval --max-source-length 0: the model's limit
predict --max-source-length 0: the model's limit
"
# Where an accepted value must fail next: a missing file, so nothing long starts.
declare -A context=(
  [train]="train --task tsv --train missing.tsv"
  [eval]="eval missing.safetensors"
  [predict]="predict missing.safetensors abc"
  [graph]="graph missing.safetensors"
  [inspect]="inspect missing.safetensors"
)
# Options of one architecture are tried with it (another's would be refused for that).
declare -A architecture=([--feedforward]="--arch transformer")
tried=0
for command in train eval predict graph inspect; do
  "$tapegrad" "$command" --help > help.log 2>&1 || fail "$command --help exit $?"
  # "  --name TYPE:RANGE [default]  help": the options whose value is a number.
  options=$(sed -nE 's/^ +(-[a-z],)?(--[a-z-]+) +(UINT|INT|FLOAT)\b.*/\2/p' help.log)
  for option in $options; do
    for value in "${values[@]}"; do
      tried=$((tried + 1))
      if grep -q -- "^$command $option $value:" <<< "$allowed"; then
        run 1 'missing' "$command $option $value (allowed)" -- "$tapegrad" ${context[$command]} \
          ${architecture[$option]:-} "$option" "$value"
      else
        run 2 "^$option: " "$command $option $value" -- "$tapegrad" ${context[$command]} \
          ${architecture[$option]:-} "$option" "$value"
      fi
    done
  done
done
# The table must have found the options (a change of --help's layout would empty it).
[ "$tried" -ge 150 ] || fail "only $tried option values tried: is --help's layout still 'NAME TYPE:RANGE'?"
run 2 '^--steps: -5 is not a whole number in 0\.\.1000000000$' "the message names the option and its range" \
  -- "$tapegrad" train --steps -5
run 2 '^--lr: nan is not a finite number in \(0, 1\.7976931348623157e\+308\]$' "a float's message" -- "$tapegrad" train --lr nan

# Sizes that overflowed in the batcher and the planner.
run 2 '^--batch-size: ' "--batch-size 2^63" -- "$tapegrad" train --batch-size 9223372036854775808
run 2 '^--epochs: ' "--epochs 2^64/3" -- "$tapegrad" train --epochs 6148914691236517206
run 2 '^--time-budget: ' "--time-budget 1e300" -- "$tapegrad" train --time-budget 1e300
# Leading zeros are decimal, not octal.
run 1 'missing' "--steps 010" -- "$tapegrad" train --task tsv --train missing.tsv --steps 010

# Conflicts, and what would fail only at the end.
printf 'ab\tb a\nabc\tc b a\nba\ta b\n' > train.tsv
run 2 'bidirectional.*unidirectional|unidirectional.*bidirectional' "--bidirectional --unidirectional" \
  -- "$tapegrad" train --task tsv --train train.tsv --bidirectional --unidirectional
run 2 'split.*file|file.*split' "eval --split with --file" \
  -- "$tapegrad" eval missing.safetensors --split test --file train.tsv
run 2 "^--words: '' " "--words ''" -- "$tapegrad" train --task tsv --train train.tsv --words ''
run 2 '^--heads: 3 heads do not divide the decoder hidden size 20' "--heads 3 of a 20-unit decoder" \
  -- "$tapegrad" train --task tsv --train train.tsv --hidden 10 --attention multi_head --heads 3
run 2 '^--attention: dot needs' "dot attention over different sizes" \
  -- "$tapegrad" train --task tsv --train train.tsv --hidden 10 --decoder-hidden 12 --attention dot
run 2 '^--tie-embeddings: needs --embedding 40' "--tie-embeddings of the wrong size" \
  -- "$tapegrad" train --task tsv --train train.tsv --hidden 10 --embedding 8 --tie-embeddings

# A model of one step for predict, and the planner's clamp: a year's budget against a
# millisecond step plans at most 1000000000 steps.
"$tapegrad" train --task tsv --train train.tsv --source-tokens chars --target-tokens words --embedding 4 \
  --hidden 4 --batch-size 2 --steps 1 --time-budget 525600 --beam 1 --no-plots --checkpoint-every 0 --out m \
  > m.log 2>&1 || { fail "train exit $?"; cat m.log; }
grep -Eq 'about 1000000000 steps fit' m.log || { fail "a year's budget: the plan is not clamped"; cat m.log; }
model=m/checkpoint-0000001.safetensors
printf '\xEF\xBB\xBFab\nba\r' | "$tapegrad" predict $model > bom.log 2> err.log || { fail "predict stdin exit $?"; cat err.log; }
cut -f1 bom.log | od -An -c | tr -s ' ' > sources.log
[ "$(cat sources.log)" = " a b \n b a \n" ] || { fail "predict stdin: BOM or CR kept in the sources:"; cat sources.log; }
printf 'ab\n\nb\xffa\n' | "$tapegrad" predict $model > out.log 2> err.log
[ $? -eq 1 ] && grep -q '^tapegrad predict: stdin line 3: invalid UTF-8 at byte 1' err.log ||
  { fail "predict: invalid UTF-8 on stdin names no line"; cat err.log; }
run 1 '^tapegrad predict: argument 2: invalid UTF-8 at byte 1' "predict: invalid UTF-8 in an argument" \
  -- "$tapegrad" predict $model ab "$(printf 'b\xffa')"

# A FIFO or a folder as a checkpoint: refused at once, never a blocked open().
mkfifo pipe.safetensors
for command in "inspect pipe.safetensors" "predict pipe.safetensors ab" "graph pipe.safetensors" \
               "eval pipe.safetensors" "train --resume pipe.safetensors --out r"; do
  run 1 "'pipe.safetensors': it is a FIFO" "$command" -- "$tapegrad" $command
done
mkdir folder.safetensors
run 1 "'folder.safetensors': it is a folder" "inspect a folder" -- "$tapegrad" inspect folder.safetensors

# TAPEGRAD_ISA (kernels/fast_math.hpp): a value that names no level, or a level above the CPU's,
# is refused before anything runs; a level the CPU has runs (OpenBLAS restarted at that level).
run 2 "TAPEGRAD_ISA=avx3: not an instruction set level; use baseline, avx2 or avx512" "TAPEGRAD_ISA=avx3" -- \
  env TAPEGRAD_ISA=avx3 "$tapegrad" inspect nothing.safetensors
if ! grep -q " avx512bw" /proc/cpuinfo; then
  run 2 "TAPEGRAD_ISA=avx512: this CPU has only" "TAPEGRAD_ISA=avx512 on a CPU without it" -- \
    env TAPEGRAD_ISA=avx512 "$tapegrad" inspect nothing.safetensors
fi
run 1 "nothing.safetensors" "TAPEGRAD_ISA=baseline runs" -- env TAPEGRAD_ISA=baseline "$tapegrad" inspect nothing.safetensors

finish "$tried option values"
