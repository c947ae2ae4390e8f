#!/usr/bin/env bash
# The full G2P recipe (docs/g2p.md): two larger models (5.3M parameters) trained
# for 30 epochs side by side, one per core (seeds 1 and 2, one worker each),
# then decoded together as an ensemble on the test split with beam 10. It takes
# hours on a 2-core machine; docs/g2p.md has the measured time.
#   bash tools/g2p_full.sh [OUT]    OUT defaults to out-full
# Ctrl-C stops both runs at a training checkpoint; run the script again and
# they go on from there (a model whose run finished is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out-full}

bash tools/install-deps.sh --main
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target tapegrad_cli
tapegrad=./build/cli/tapegrad
mkdir -p "$out"

# One worker and one BLAS thread per model: two independent runs use the two
# cores better than one run split over both (docs/g2p.md has the numbers).
# The epochs, not a time budget, fix the schedule: the result does not depend
# on the machine's speed or on what else runs on it.
model=(--task g2p --embedding 128 --hidden 256 --encoder-layers 2 --dropout 0.2 --lr 3e-3 --warmup 800
       --epochs 30 --dev-sample 2000 --workers 1)
# Not part of a training checkpoint: given again when a run resumes.
run=(--threads 1 --beam 10 --words tapegrad gradient)

train_one() {
  local seed=$1 dir="$out/seed$1"
  if [ -f "$dir/finished" ]; then
    echo "seed $seed: already trained ($dir)"
    return 0
  fi
  local last
  last=$(ls "$dir"/checkpoint-*.safetensors 2>/dev/null | sort | tail -n 1 || true)
  if [ -n "$last" ]; then
    "$tapegrad" train --resume "$last" "${run[@]}" --out "$dir" >> "$dir.log" 2>&1
  else
    mkdir -p "$dir"
    "$tapegrad" train "${model[@]}" "${run[@]}" --seed "$seed" --out "$dir" > "$dir.log" 2>&1
  fi
  touch "$dir/finished"
  echo "seed $seed: $(tail -n 1 "$dir.log")"
}

echo "training two models side by side (logs: $out/seed1.log, $out/seed2.log)"
start=$(date +%s)
train_one 1 &
first=$!
train_one 2 &
second=$!
status=0
wait "$first" || status=$?
wait "$second" || status=$?
if [ "$status" -ne 0 ]; then
  echo "a training run stopped (status $status); run this script again to continue it" >&2
  exit "$status"
fi
echo "training took $(( ($(date +%s) - start) / 60 )) minutes (this part of it)"

echo "the ensemble of both (beam 10):"
"$tapegrad" eval "$out/seed1/best.safetensors" --ensemble "$out/seed2/best.safetensors" --split test --beam 10
