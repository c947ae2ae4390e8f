# Sourced by the check_*.sh scripts: a scratch folder that is removed at exit, counted
# failures, and the closing line and status.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_in() {  # expect_in FILE PATTERN WHAT: PATTERN (extended regex) in FILE, else FILE's start is shown
  grep -Eq -- "$2" "$1" || { fail "$3: no match for '$2' in:"; head -c 2000 "$1"; }
}
finish() {  # finish [WHAT]: status 1 when a check failed
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed${1:+ ($1)}"
}
