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
# cells48 once its grid is being remade (its GRU cells adopted): until then the kept runs are the 15 uniform-init
# AL-RNNs alone, and OUT/cells48's two figures stay those of the 2026-12-03 grid (docs/beyond-cells.md)
[ -d $K/cells48/h48-ar-s0 ] && onionref report $K/cells48 --out $O/cells48
[ -d $K/cells128 ] && onionref report $K/cells128 --out $O/cells128
M=$(ls -d $K/cells-matched-* 2>/dev/null || true)
[ -n "$M" ] && onionref report $M --out $O/cells-matched
echo "wrote $O/{transition,form,capacity,access-*,cells*}"
