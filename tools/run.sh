#!/usr/bin/env bash
# The main job: installs the dependencies, builds the `tapegrad` command line
# (Release), and trains the default grapheme-to-phoneme model on Debian's
# CMUdict for 11 minutes, printing progress and dev WER/PER as it goes, then
# the test WER and PER (beam search) and pronunciations of a few new words.
# It leaves in out/: the checkpoints (best.safetensors, the last training
# checkpoints), metrics.jsonl, loss.png and attention.png. Extra arguments go
# to `tapegrad train` (try --help); docs/g2p.md has the full recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --main
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" --target tapegrad_cli
./build/cli/tapegrad train --task g2p --time-budget 11 --out out "$@"
