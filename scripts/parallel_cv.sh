#!/usr/bin/env bash
# source-fold CV of several recipes, one process per (recipe, fold), all in parallel.
set -u
# Usage: RECIPES=a,b,c C=KIND:PATH CV=DIR LOGS=DIR OUT=DIR [LIMIT=seconds] [EXTRA="--epochs 16 ..."] bash scripts/parallel_cv.sh
# Five processes per recipe (meant for a machine with 16 cores); OUT receives the table, oof.csv files and logs.
RECIPES=${RECIPES:-deployed,mel-mixup,mel-warp}
C=${C:-musan:/root/mm/minimusan}
CV=${CV:-/root/cv}; LOGS=${LOGS:-/root/logs}; LIMIT=${LIMIT:-420}
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p $LOGS
python3 scripts/prewarm_cache.py $C ${PREWARM_WORKERS:-16} 2>&1 | grep -v "it/s\]" | tail -3
for r in ${RECIPES//,/ }; do for f in 0 1 2 3 4; do
  timeout $LIMIT python3 -m sonotype.cli.main reproduce sources --corpus $C --recipes $r --out $CV --workers 1 \
    --only $f ${EXTRA:-} > $LOGS/$r-$f.txt 2>&1 &
done; done
wait
ls $CV/*/fold*/train.json | wc -l
timeout 60 python3 -m sonotype.cli.main reproduce sources --corpus $C --recipes ${RECIPES} --out $CV --workers 1 ${EXTRA:-} > $OUT/table.txt 2>&1
cp $CV/sources.md $CV/sources.json $OUT/ 2>/dev/null
(cd $CV && tar czf $OUT/oof.tgz */oof.csv */fold*/train.json 2>/dev/null)
(cd $LOGS && tar czf $OUT/logs.tgz .)
for f in $LOGS/*.txt; do echo "$f: $(grep -v 'it/s' $f | tail -1 | cut -c1-160)"; done
