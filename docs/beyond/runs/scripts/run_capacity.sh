#!/usr/bin/env bash
# Issue 21 part 2: H 48 / 64 trained at maximum length 12, 15, 20 (3 seeds, 40,000 steps each), their precision
# report (2,000 valid sequences) and the onion intervention at 10,000 steps. Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
C=${RUNS:-$HOME/onionref-runs}/capacity
N="nice -n ${NICE:-10}"
mkdir -p $C
for S in 0 1 2; do for H in 48 64; do for L in 12 15 20; do
  R=$C/h$H-len$L-s$S
  if [ ! -f $R/DONE ]; then
    if [ -f $R/checkpoint.safetensors ]; then RES=--resume; else RES=; fi
    $N onionref train --hidden $H --max-len $L --seed $S --out $R $RES --quiet || exit 1
  fi
  [ -f $R/precision.json ] || $N onionref precision $R --n 2000 > /dev/null || exit 1
  if [ ! -f $R/intervene/onion/DONE ]; then
    if [ -f $R/intervene/onion/checkpoint.safetensors ]; then RES=--resume; else RES=; fi
    $N onionref intervene $R --mode onion --steps 10000 $RES --quiet > /dev/null || exit 1
  fi
  echo "$(date -u +%FT%TZ) h$H-len$L-s$S done"
done; done; done
