#!/usr/bin/env bash
# Formats every C++ file in the repository with clang-format-14 and .clang-format.
#   bash tools/format.sh           rewrites the files in place
#   bash tools/format.sh --check   changes nothing; fails naming each file that differs (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format-14 > /dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends clang-format-14
fi
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [ "${1:-}" = "--check" ]; then
  clang-format-14 --dry-run -Werror "${files[@]}"
  echo "format: ${#files[@]} files follow .clang-format"
else
  clang-format-14 -i "${files[@]}"
fi
