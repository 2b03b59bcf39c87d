#!/usr/bin/env bash
# Issue 21 part 3: reverse and lookup, H 48 / 64 / 128 x 3 seeds, analyses at 10,000 steps; one size at a time.
# Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
for H in 48 64 128; do
  for T in reverse lookup; do
    nice -n ${NICE:-10} onionref sweep --task $T --hidden $H --seeds 3 \
      --analyses linear,bigram,onion,onion-from-end,probe-linear,probe-onion \
      --analysis-steps 10000 --workers ${WORKERS:-2} --threads-per-job 1 --quiet \
      --out ${RUNS:-$HOME/onionref-runs}/access-$T || exit 1
    echo "$(date -u +%FT%TZ) $T H=$H done"
  done
done
