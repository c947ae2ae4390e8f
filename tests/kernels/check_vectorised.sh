#!/usr/bin/env bash
# Each clone of the float loops (kernels/fast_math.cpp, optim/adam.cpp) must use packed
# instructions of its width: *_avx512 on zmm, *_avx2 on ymm, *_baseline on xmm. GCC once
# left every exp, sigmoid and tanh loop of the AVX2 clones scalar, which no result shows.
# The clones that quantize activations (quantize_*) must hold no fused multiply-add: FBGEMM
# rounds x / scale to float before rounding it to an integer, and a fused one would not.
# usage: check_vectorised.sh LIBRARY...   (static libraries or objects)
set -euo pipefail
status=0
for lib in "$@"; do
  report=$(objdump -d --no-show-raw-insn -C "$lib" | awk '
    /^[0-9a-f]+ <.*>:$/ { name = $0; next }
    name ~ /_(avx512|avx2|baseline)[<(]/ {
      seen[name] = 1
      if (name ~ /_avx512[<(]/) want = "%zmm"; else if (name ~ /_avx2[<(]/) want = "%ymm"; else want = "%xmm"
      if (index($0, want) > 0 && $0 ~ /p[sd][ \t]/) packed[name]++
    }
    END { for (n in seen) printf "%d\t%s\n", packed[n], n }')
  if [ -z "$report" ]; then
    echo "check_vectorised: no clones found in $lib" >&2
    status=1
    continue
  fi
  while IFS=$'\t' read -r count name; do
    if [ "$count" -eq 0 ]; then
      echo "not vectorised: $name ($lib)" >&2
      status=1
    fi
  done <<< "$report"
  fused=$(objdump -d --no-show-raw-insn -C "$lib" | awk '
    /^[0-9a-f]+ <.*>:$/ { name = $0; next }
    name ~ /::quantize_(avx512|avx2|baseline)[<(]/ && /vfn?m(add|sub)/ && !found { found = name }
    END { print found }')
  if [ -n "$fused" ]; then
    echo "fused multiply-add in $fused ($lib)" >&2
    status=1
  fi
  echo "$lib: $(wc -l <<< "$report") clones checked"
done
exit $status
