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
reversals() {  # reversals SEED LETTERS [PREFIX]: PREFIXtrain.tsv, dev.tsv, test.tsv of 300, 40, 40
  # different strings of 2-6 LETTERS, each with its reversal as space-separated letters
  awk -v seed="$1" -v letters="$2" -v prefix="${3:-}" 'BEGIN { srand(seed); for (i = 0; i < 380;) {
    n = 2 + int(rand() * 5); s = ""; r = ""
    for (j = 0; j < n; j++) { c = substr(letters, 1 + int(rand() * length(letters)), 1); s = s c; r = c (r == "" ? "" : " ") r }
    if (s in seen) continue; seen[s] = 1
    f = prefix (i < 300 ? "train.tsv" : i < 340 ? "dev.tsv" : "test.tsv"); print s "\t" r > f; i++ } }'
}
