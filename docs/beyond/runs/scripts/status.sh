#!/usr/bin/env bash
# Finished trainings / analyses per sweep directory, and what runs now.
cd ${RUNS:-$HOME/onionref-runs}
for d in */; do d=${d%/}; [ -f $d/sweep.json ] || { [ "$d" = form60k ] || [ "$d" = capacity ]; } || continue
  tr=$(ls $d/*/DONE 2>/dev/null | wc -l); an=$(ls $d/*/*/*/DONE 2>/dev/null | wc -l); all=$(ls -d $d/*/ 2>/dev/null | wc -l)
  echo "$d: $tr/$all trained, $an analyses done"; done
ps -eo ni,etime,args | grep "[o]nionref \(sweep\|intervene\|train\|precision\)" | grep -v spawn | cut -c1-150
