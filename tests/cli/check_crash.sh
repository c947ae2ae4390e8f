#!/usr/bin/env bash
# What `tapegrad train` keeps when it is stopped, and what it refuses to touch:
#   - SIGTERM and SIGINT save a checkpoint and exit with 143 and 130, and the run resumes;
#   - killed with SIGKILL at seeded random moments (some during saves), the newest checkpoint
#     and best.safetensors always load and predict, metrics.jsonl never repeats a step, the
#     run resumes each time, and the files of another run are never touched;
#   - temporaries of a dead process's saves are removed when a run starts in the folder;
#   - a fresh run into another run's folder, or a resume from an earlier checkpoint into a
#     folder with later ones, is refused (status 2) unless --overwrite; a run prunes only
#     its own checkpoints.
# (Runs that must end are under `timeout`: a --steps that a resume ignores would run on.)
# usage: check_crash.sh TAPEGRAD
set -uo pipefail
tapegrad=$1
source "$(dirname "$0")/common.sh"

awk 'BEGIN { srand(11); for (i = 0; i < 140;) { n = 2 + int(rand() * 4); s = ""; r = "";
  for (j = 0; j < n; j++) { c = substr("abcd", 1 + int(rand() * 4), 1); s = s c; r = c (r == "" ? "" : " ") r }
  if (s in seen) continue; seen[s] = 1
  f = i < 120 ? "train.tsv" : "dev.tsv"; print s "\t" r > f; i++ } }'
tiny=(--task tsv --train train.tsv --dev dev.tsv --embedding 8 --hidden 8 --batch-size 8 --warmup 2
      --eval-every 2 --no-plots --workers 1 --beam 1)
newest() { ls "$1"/checkpoint-*.safetensors 2> /dev/null | tail -n 1; }
# The step of every record of metrics.jsonl, dev and training records apart, in file order.
record_steps() { sed -nE '/"dev_loss"/{s/.*"step":([0-9]+).*/dev \1/p;d}; /"loss"/s/.*"step":([0-9]+).*/train \1/p' "$1"; }
metrics_in_order() {  # each kind of record once per step, steps increasing
  record_steps "$1" | awk '{ if ($1 in last && $2 <= last[$1]) { print "step " $2 " (" $1 ") after step " last[$1]; bad = 1 }
                             last[$1] = $2 } END { exit bad }'
}
wait_for() {  # wait_for FILE: up to 20 s for it to exist and be non-empty
  for _ in $(seq 1 400); do [ -s "$1" ] && return 0; sleep 0.05; done
  return 1
}
step_of() { local name; name=$(basename "$1" .safetensors); echo $((10#${name#checkpoint-})); }

# Another run's folder: its files must come through everything below untouched.
"$tapegrad" train "${tiny[@]}" --steps 4 --checkpoint-every 2 --out other > other.log 2>&1 || { fail "other run: exit $?"; cat other.log; }
sha256sum other/* > other.sums

# SIGTERM, then SIGINT: a checkpoint, 143 and 130, and the run goes on from it.
wait_past() {  # wait_past DIR STEP: up to 20 s for a checkpoint after STEP in DIR
  for _ in $(seq 1 400); do
    local last
    last=$(newest "$1")
    [ -n "$last" ] && [ "$(step_of "$last")" -gt "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
stop_with() {  # stop_with SIGNAL STATUS STEP ARGS...: the signal once a checkpoint after STEP is in s (the loop runs)
  local signal=$1 expected=$2 step=$3; shift 3
  "$tapegrad" train "$@" > sig.log 2>&1 &
  local pid=$!
  wait_past s "$step" || fail "$signal: no checkpoint after step $step in s after 20 s"
  kill -"$signal" $pid
  wait $pid
  local status=$?
  [ $status -eq "$expected" ] || { fail "$signal: exit $status, expected $expected"; cat sig.log; }
  expect_in sig.log "^interrupted by SIG$signal at step [0-9]+: checkpoint written to s/checkpoint-[0-9]{7}\\.safetensors" "$signal note"
  local ckpt
  ckpt=$(sed -nE 's/.*continue with --resume (.*)$/\1/p' sig.log)
  [ -s "$ckpt" ] || fail "$signal: the checkpoint it names ($ckpt) is not there"
}
stop_with TERM 143 0 "${tiny[@]}" --steps 100000000 --checkpoint-every 3 --out s
last=$(newest s)
stop_with INT 130 "$(step_of "$last")" --resume "$last" --out s
expect_in sig.log 'resuming at step' "resumed after SIGTERM"

# Temporaries: those of a dead process's saves of run files go, any other stays.
sleep 0 & dead=$!
wait $dead
printf x > "s/best.safetensors.$dead.3.tmp"
printf x > "s/checkpoint-0000001.safetensors.$dead.0.tmp"
printf x > "s/notes.txt.$dead.0.tmp"
printf x > "s/best.safetensors.$$.0.tmp"  # this shell is alive: a save under way
last=$(newest s)
timeout 120 "$tapegrad" train --resume "$last" --steps $(($(step_of "$last") + 1)) --out s > tmp.log 2>&1 || { fail "resume beside temporaries: exit $?"; cat tmp.log; }
[ ! -e "s/best.safetensors.$dead.3.tmp" ] && [ ! -e "s/checkpoint-0000001.safetensors.$dead.0.tmp" ] ||
  { fail "a dead process's temporaries were left:"; ls s; }
[ -e "s/notes.txt.$dead.0.tmp" ] && [ -e "s/best.safetensors.$$.0.tmp" ] || { fail "temporaries that are not a dead run's were removed:"; ls s; }
expect_in tmp.log 'removed 2 temporary file' "note on removed temporaries"

# SIGKILL at seeded random moments: every other time as soon as a save is under way.
RANDOM=20
kills=0 during_save=0
"$tapegrad" train "${tiny[@]}" --steps 100000000 --checkpoint-every 1 --keep 2 --out k > k.log 2>&1 &
pid=$!
wait_past k 0 || fail "SIGKILL: no first checkpoint after 20 s"
for i in $(seq 1 24); do
  if [ $i -gt 1 ]; then
    last=$(newest k)
    "$tapegrad" train --resume "$last" --out k > k.log 2>&1 &
    pid=$!
  fi
  if [ $((i % 2)) -eq 0 ]; then
    for _ in $(seq 1 2000); do compgen -G "k/*.$pid.*.tmp" > /dev/null && break; sleep 0.001; done
  else
    sleep "0.$((200 + RANDOM % 700))"
  fi
  kill -KILL $pid 2> /dev/null
  wait $pid 2> /dev/null
  kills=$((kills + 1))
  compgen -G "k/*.$pid.*.tmp" > /dev/null && during_save=$((during_save + 1))
  last=$(newest k)
  [ -n "$last" ] || { fail "kill $i: no checkpoint left"; break; }
  "$tapegrad" predict "$last" abc > p.log 2>&1 || { fail "kill $i: $last does not predict"; cat p.log; }
  if [ -e k/best.safetensors ]; then
    "$tapegrad" predict k/best.safetensors abc > p.log 2>&1 || { fail "kill $i: best.safetensors does not predict"; cat p.log; }
  fi
  metrics_in_order k/metrics.jsonl || fail "kill $i: metrics.jsonl repeats steps"
  sha256sum --quiet -c other.sums || fail "kill $i: the other run's files changed"
done
echo "$kills kills, $during_save of them left a save's temporary file"
[ $kills -ge 20 ] || fail "only $kills kills"
[ $during_save -ge 1 ] || fail "no kill came during a save"
last=$(newest k)
step=$(step_of "$last")
timeout 120 "$tapegrad" train --resume "$last" --steps $((step + 3)) --out k > k.log 2>&1 || { fail "last resume: exit $?"; cat k.log; }
expect_in k.log "resuming at step $step" "last resume"
[ -z "$(ls k | grep -v -E '^(best|checkpoint-[0-9]{7})\.safetensors$|^metrics\.jsonl$|^run\.json$')" ] || { fail "files left in k:"; ls k; }
[ "$(ls k/checkpoint-*.safetensors | wc -l)" -eq 2 ] || { fail "--keep 2: two checkpoints expected"; ls k; }
metrics_in_order k/metrics.jsonl || fail "metrics.jsonl repeats steps at the end"

# A fresh run into another run's folder is refused, as is a resume that would write over later checkpoints.
"$tapegrad" train "${tiny[@]}" --steps 6 --checkpoint-every 2 --keep 5 --out p > p.log 2>&1 || { fail "p: exit $?"; cat p.log; }
sha256sum p/* > p.sums
expect_refused() {  # expect_refused PATTERN ARGS...
  local pattern=$1; shift
  "$tapegrad" train "$@" > r.out 2> r.log
  local status=$?
  [ $status -eq 2 ] || { fail "train $*: exit $status, expected 2"; cat r.out r.log; }
  expect_in r.log "$pattern" "train $*"
  sha256sum --quiet -c p.sums || fail "train $*: p changed"
  [ "$(ls p | wc -l)" -eq "$(wc -l < p.sums)" ] || { fail "train $*: files added to p"; ls p; }
}
expect_refused 'p holds the files of run [0-9a-f]{16} \(best\.safetensors, checkpoint-0000002\.safetensors.*--overwrite' \
  "${tiny[@]}" --seed 2 --steps 4 --out p
expect_refused 'p holds checkpoint-0000004\.safetensors, checkpoint-0000006\.safetensors, saved after step 2.*--overwrite' \
  --resume p/checkpoint-0000002.safetensors --out p
# Another run's checkpoint in the folder is not pruned.
cp other/checkpoint-0000002.safetensors p/checkpoint-0000001.safetensors
timeout 120 "$tapegrad" train --resume p/checkpoint-0000006.safetensors --steps 12 --keep 2 --out p > p2.log 2>&1 || { fail "p resumed: exit $?"; cat p2.log; }
[ "$(ls p/checkpoint-*.safetensors | xargs -n1 basename | tr '\n' ' ')" = \
  "checkpoint-0000001.safetensors checkpoint-0000010.safetensors checkpoint-0000012.safetensors " ] ||
  { fail "pruning: the other run's checkpoint and the newest two of the run's own expected:"; ls p; }
cmp -s other/checkpoint-0000002.safetensors p/checkpoint-0000001.safetensors || fail "another run's checkpoint changed"
# --overwrite: the new run replaces the folder's run files, and nothing else.
echo keep > p/notes.txt
old_run=$(cat p/run.json)
"$tapegrad" train "${tiny[@]}" --seed 2 --steps 4 --checkpoint-every 2 --overwrite --out p > p3.log 2>&1 || { fail "--overwrite: exit $?"; cat p3.log; }
[ "$(ls p | tr '\n' ' ')" = "best.safetensors checkpoint-0000002.safetensors checkpoint-0000004.safetensors metrics.jsonl notes.txt run.json " ] ||
  { fail "--overwrite: the new run's files and notes.txt expected:"; ls p; }
[ "$(cat p/run.json)" != "$old_run" ] || fail "--overwrite: the run id did not change"
metrics_in_order p/metrics.jsonl || fail "--overwrite: metrics.jsonl holds the old run's records"
# --overwrite when resuming from an earlier checkpoint: the later ones go, the run goes on from there.
timeout 120 "$tapegrad" train --resume p/checkpoint-0000002.safetensors --steps 3 --overwrite --out p > p4.log 2>&1 || { fail "resume --overwrite: exit $?"; cat p4.log; }
[ "$(ls p/checkpoint-*.safetensors | xargs -n1 basename | tr '\n' ' ')" = "checkpoint-0000002.safetensors checkpoint-0000003.safetensors " ] ||
  { fail "resume --overwrite: checkpoints 2 and 3 expected:"; ls p; }
metrics_in_order p/metrics.jsonl || fail "resume --overwrite: metrics.jsonl repeats steps"
sha256sum --quiet -c other.sums || fail "the other run's files changed"

finish
