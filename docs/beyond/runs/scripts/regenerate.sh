#!/usr/bin/env bash
# Every table and figure of docs/beyond-onion.md and docs/beyond-cells.md from the runs kept here (the runs
# are only read; transition and capacity cache RUN/gates.json and RUN/precision.json beside them where missing):
# OUT/transition, OUT/form, OUT/capacity (issue 21 parts 1, 4, 2), OUT/access-{reverse,lookup} (part 3) and
# OUT/cells48, OUT/cells128, OUT/cells-matched (issue 22). OUT defaults to docs/beyond; run from anywhere.
# capacity reads each run's precision.json (made by run_capacity.sh with --n 2000) and computes it where missing.
set -e
[ -n "$VENV" ] && . "$VENV/bin/activate"
S=$(dirname "$(readlink -f "$0")"); K=$(readlink -f "$S/..")          # K = docs/beyond/runs
O=${OUT:-$(readlink -f "$K/..")}
onionref transition $K/transition --out $O/transition
onionref form $K/form60k/h*-ar-s* --out $O/form
onionref capacity $K/transition/h48-ar-s* $K/transition/h64-ar-s* $K/capacity/h*-len*-s* --out $O/capacity   # L <= 9: the transition GRUs
for T in reverse lookup; do onionref report $K/access-$T --out $O/access-$T; done
for C in cells48 cells128; do [ -d $K/$C ] && onionref report $K/$C --out $O/$C; done
[ -d $K/cells-matched-42 ] && onionref report $K/cells-matched-42 $K/cells-matched-78 --out $O/cells-matched
echo "wrote $O/{transition,form,capacity,access-*,cells*}"
