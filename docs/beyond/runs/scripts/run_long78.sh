#!/usr/bin/env bash
# Issue 22, matched grid: do the three Elman (tanh) H 78 models, still learning at the paper's 40,000 steps, solve
# the task with more? Copies of cells-matched-78's models in long78/, resumed from their 40,000-step checkpoints to
# 160,000 steps (constant learning rate and batch order by (seed, step): the same as training 160,000 from scratch),
# then the sweep's six analyses at its 10,000 steps (`onionref sweep` on long78/). Resumable: rerun the same script.
[ -n "$VENV" ] && . "$VENV/bin/activate"    # a frozen install for the runs (optional)
M=${RUNS:-$HOME/onionref-runs}/cells-matched-78; L=${RUNS:-$HOME/onionref-runs}/long78
N="taskset -c ${CPU:-1} nice -n ${NICE:-15}"   # one core: one batch-chunk thread, as the sweep ran them
STEPS=${STEPS:-160000}; mkdir -p $L
for S in 0 1 2; do
  C=h78-ar-elman-s$S
  if [ ! -d $L/$C ]; then
    [ -f $M/$C/DONE ] || { echo "$M/$C not trained yet"; exit 1; }
    mkdir -p $L/$C.tmp
    for f in config.json metrics.jsonl checkpoint.safetensors; do cp -p $M/$C/$f $L/$C.tmp/; done
    mv $L/$C.tmp $L/$C
  fi
  grep -qs "\"step\": $STEPS" $L/$C/result.json && [ -f $L/$C/DONE ] || \
    $N onionref train --out $L/$C --resume --steps $STEPS --quiet || exit 1
  echo "$(date -u +%FT%TZ) $C trained"
done
# the six analyses by the sweep engine, which takes the resumed runs as its own (their config is its budget)
$N onionref sweep --hidden 78 --cells elman --seeds 3 --variants ar \
  --analyses linear,bigram,onion,probe-linear,probe-mlp,probe-onion --train-steps $STEPS --analysis-steps 10000 \
  --workers 1 --threads-per-job 1 --quiet --out $L || exit 1
