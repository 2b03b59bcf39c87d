#!/usr/bin/env bash
# Issue 21 part 4: the onion and onion-free interventions of the transition sweep's H 48 / 64 / 128 GRUs resumed
# from the sweep's 10,000 to the paper's 60,000 steps, on copies in form60k/ (the sweep keeps its 10,000-step ones).
# Waits for each cell's two analyses in the transition sweep. Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
T=${RUNS:-$HOME/onionref-runs}/transition; F=${RUNS:-$HOME/onionref-runs}/form60k
mkdir -p $F
for H in 48 64 128; do for S in 0 1 2; do
  C=h$H-ar-s$S
  until [ -f $T/$C/intervene/onion/DONE ] && [ -f $T/$C/intervene/onion-free/DONE ]; do sleep 60; done
  if [ ! -d $F/$C ]; then
    mkdir -p $F/$C.tmp/intervene
    for f in config.json result.json metrics.jsonl weights.safetensors DONE; do cp -p $T/$C/$f $F/$C.tmp/; done
    cp -rp $T/$C/intervene/onion $T/$C/intervene/onion-free $F/$C.tmp/intervene/
    mv $F/$C.tmp $F/$C
  fi
  for M in onion onion-free; do
    grep -qs '"steps": 60000' $F/$C/intervene/$M/result.json && [ -f $F/$C/intervene/$M/DONE ] && continue
    nice -n ${NICE:-5} onionref intervene $F/$C --mode $M --resume --steps 60000 --quiet || exit 1
  done
  echo "$(date -u +%FT%TZ) $C done"
done; done
