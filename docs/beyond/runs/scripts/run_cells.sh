#!/usr/bin/env bash
# Issue 22 part 4: the AL-RNN with torch's uniform init at H 48; then every cell at H 128 (the GRU cells copied from
# the transition sweep: same budget, so the sweep adopts them and only adds what they lack), then matched parameter
# counts (LSTM H 42, the non-gated cells H 78).
# Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
R=${RUNS:-$HOME/onionref-runs}
A="--seeds 3 --variants ar --analyses linear,bigram,onion,probe-linear,probe-mlp,probe-onion --train-steps 40000 --analysis-steps 10000 --workers ${WORKERS:-2} --threads-per-job 1 --quiet"
N="nice -n ${NICE:-15}"
# adopt H SWEEP: copy the transition sweep's finished GRU cells of size H (same budget) into SWEEP, once
adopt() { for S in 0 1 2; do [ -f $R/transition/h$1-ar-s$S/DONE ] && [ ! -e $R/$2/h$1-ar-s$S ] && mkdir -p $R/$2 && cp -r $R/transition/h$1-ar-s$S $R/$2/; done; return 0; }
$N onionref sweep --hidden 48 --cells alrnn-p0-uniform,alrnn-p1-uniform,alrnn-p4-uniform,alrnn-p16-uniform,alrnn-pH-uniform $A --out $R/cells48 || exit 1
echo "$(date -u +%FT%TZ) cells48 uniform done"
adopt 128 cells128
$N onionref sweep --hidden 128 --cells gru,lstm,elman,linear,alrnn-p0,alrnn-p1,alrnn-p4,alrnn-p16,alrnn-pH $A --out $R/cells128 || exit 1
echo "$(date -u +%FT%TZ) cells128 non-GRU done"
$N onionref sweep --hidden 42 --cells lstm $A --out $R/cells-matched-42 || exit 1
$N onionref sweep --hidden 78 --cells elman,linear,alrnn-p0,alrnn-p1,alrnn-p4,alrnn-p16,alrnn-pH $A --out $R/cells-matched-78 || exit 1
echo "$(date -u +%FT%TZ) matched done"
# last: the H 48 grid of 2026-12-03 again (lost with that machine; its table is in docs/beyond-cells.md), so the
# kept runs make the whole cells48 report; its GRU cells are the transition sweep's N 48 ones
adopt 48 cells48
$N onionref sweep --hidden 48 --cells gru,lstm,elman,linear,alrnn-p0,alrnn-p1,alrnn-p4,alrnn-p16,alrnn-pH $A --out $R/cells48 || exit 1
echo "$(date -u +%FT%TZ) cells48 grid remade"
