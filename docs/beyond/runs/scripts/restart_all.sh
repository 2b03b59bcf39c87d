#!/usr/bin/env bash
# Start every background experiment (each resumable; order = priority by nice).
S=$(dirname "$(readlink -f "$0")"); mkdir -p "${RUNS:=$HOME/onionref-runs}"; cd "$RUNS"
# a new machine: bring back every finished run the repository keeps (docs/beyond/runs/<sweep>), never overwriting
for d in "$S"/../*/; do n=$(basename "$d"); [ "$n" = scripts ] && continue; mkdir -p "$n"; cp -rn "$d". "$n"/; done
nohup bash $S/run_transition.sh >> transition.log 2>&1 &
nohup bash $S/run_form60k.sh >> form60k.log 2>&1 &
nohup bash $S/run_access.sh >> access.log 2>&1 &
nohup bash $S/run_capacity.sh >> capacity.log 2>&1 &
nohup bash $S/run_cells.sh >> cells.log 2>&1 &
nohup bash $S/run_long78.sh >> long78.log 2>&1 &
