#!/usr/bin/env bash
# Issue 21 part 1: the transition sweep, one hidden size at a time (each size finishes train + analyses before the
# next starts, so finished cells can be saved early); N 256 at this budget too (the issue-19 large-GRU runs it was
# to reuse were lost with the machine on 2026-12-04). Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
OUT=${RUNS:-$HOME/onionref-runs}/transition
for H in 48 64 80 96 112 128 160 192 256; do
  nice -n ${NICE:-0} onionref sweep --hidden $H --seeds 3 --variants ar \
    --analyses linear,bigram,onion,onion-free,probe-linear,probe-mlp,probe-onion \
    --train-steps 40000 --analysis-steps 10000 --workers ${WORKERS:-2} --quiet --out $OUT || exit 1
  echo "$(date -u +%FT%TZ) H=$H done"
done
