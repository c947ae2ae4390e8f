#!/usr/bin/env bash
# The main job: installs the dependencies, builds tapegrad (Release), and trains
# the default example. Extra arguments go to the example (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target reverse_digits
mkdir -p out
./build/examples/reverse_digits --graph out/reverse_digits_graph.svg "$@"
