#!/usr/bin/env bash
# The `make demo` job: data -> train -> test (PQ) -> visualisations.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-panoptic-fpn_r18_fpn_synthetic}
DATA=${DATA:-data/synthetic_panoptic}
WORK=${WORK:-work_dirs/demo/$MODEL}
PY=${PY:-.venv/bin/python}
start=$(date +%s)

echo "== 1/3 synthetic data -> $DATA"
$PY tools/misc/make_synthetic_panoptic.py "$DATA" --train 200 --val 50 --size 128 128 --seed 0

echo "== 2/3 training $MODEL on CPU (work dir $WORK)"
$PY tools/train.py "$MODEL" --work-dir "$WORK" \
    --cfg-options train_cfg.val_interval=1000000

echo "== 3/3 evaluating on the val split and drawing predictions"
rm -rf "$WORK/vis"
$PY tools/test.py "$MODEL" "$WORK/iter_$($PY -c "
from mmengine.config import Config
from mmpanoptic.utils.config_path import find_config
print(Config.fromfile(find_config('$MODEL')).train_cfg.max_iters)").pth" \
    --work-dir "$WORK" --show-dir "$(realpath -m "$WORK/vis")" | tee "$WORK/test.log"

echo
echo "Demo finished in $(( $(date +%s) - start )) s."
grep -E "PQ|^\|" "$WORK/test.log" | tail -n 8 || true
echo "Checkpoint:      $WORK/iter_*.pth"
echo "Visualisations:  $(realpath -m "$WORK/vis") ($(ls "$WORK/vis" 2>/dev/null | wc -l) PNGs: ground truth | prediction)"
