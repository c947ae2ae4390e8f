#!/usr/bin/env bash
# Installs tapegrad's build and test dependencies from Debian 12's packages.
#   bash tools/install-deps.sh          everything the tests need
#   bash tools/install-deps.sh --main   only what the main job (tools/run.sh) needs
# Skips apt-get entirely when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libxtensor-dev libxtensor-blas-dev libopenblas-dev libxsmm-dev libdnnl-dev libfmt-dev
  doctest-dev nlohmann-json3-dev libcli11-dev
  libgraphviz-dev graphviz
  libssl-dev libplplot-dev plplot-driver-cairo
  pocketsphinx-en-us
  libopenmpi-dev openmpi-bin
)
# The tests also run PyTorch (a checkpoint written here must load in torch.nn);
# the main job (--main) does not need it.
# The sanitizer build compiles with clang-14, and CI checks the format with
# clang-format-14; the main job needs neither. OpenMPI (above): `tapegrad train`
# runs distributed under mpirun (dist/, train/).
if [ "${1:-}" != "--main" ]; then
  packages+=(python3-torch clang-14 clang-format-14)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
