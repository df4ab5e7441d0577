#!/usr/bin/env bash
# The `make demo` job: data -> train (PQ validated every VAL_INTERVAL
# iterations) -> test (PQ) -> visualisations, demo outputs, curves.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-panoptic-fpn_r18_fpn_synthetic}
DATA=${DATA:-data/synthetic_panoptic}
WORK=${WORK:-work_dirs/demo/$MODEL}
PY=${PY:-.venv/bin/python}
VAL_INTERVAL=${VAL_INTERVAL:-200}
DEMO_IMAGES=${DEMO_IMAGES:-8}
start=$(date +%s)

echo "== 1/4 synthetic data -> $DATA"
$PY tools/misc/make_synthetic_panoptic.py "$DATA" --train 200 --val 50 --size 128 128 --seed 0

echo "== 2/4 training $MODEL on CPU (work dir $WORK)"
$PY tools/train.py "$MODEL" --work-dir "$WORK" \
    --cfg-options train_cfg.val_interval="$VAL_INTERVAL" \
    default_hooks.logger.log_metric_by_epoch=False
# this run's log: the newest timestamp folder (earlier demos may be there)
TRAIN_LOG="$(ls -td "$WORK"/2*/ | head -n 1)vis_data/scalars.json"

echo "== 3/4 evaluating on the val split and drawing predictions"
rm -rf "$WORK/vis"
$PY tools/test.py "$MODEL" "$WORK/iter_$($PY -c "
from mmengine.config import Config
from mmpanoptic.utils.config_path import find_config
print(Config.fromfile(find_config('$MODEL')).train_cfg.max_iters)").pth" \
    --work-dir "$WORK" --show-dir "$(realpath -m "$WORK/vis")" | tee "$WORK/test.log"

echo "== 4/4 image demo on $DEMO_IMAGES val images, loss and PQ curves"
rm -rf "$WORK/demo_outputs"
CKPT="$(cat "$WORK/last_checkpoint")"
mapfile -t IMAGES < <(ls -d "$DATA"/val/* | sort | head -n "$DEMO_IMAGES")
$PY tools/demo/image_demo.py "${IMAGES[@]}" "$MODEL" --weights "$CKPT" \
    --out-dir "$WORK/demo_outputs" --device cpu
$PY tools/analysis_tools/analyze_logs.py plot_curve "$TRAIN_LOG" \
    --title "$MODEL" --out "$WORK/curves.png"

echo
echo "Demo finished in $(( $(date +%s) - start )) s."
grep -E "PQ|^\|" "$WORK/test.log" | tail -n 8 || true
echo "Checkpoint:      $WORK/iter_*.pth"
echo "Visualisations:  $(realpath -m "$WORK/vis") ($(ls "$WORK/vis" 2>/dev/null | wc -l) PNGs: ground truth | prediction)"
echo "Demo outputs:    $(realpath -m "$WORK/demo_outputs") (panoptic/: COCO panoptic PNG + JSON, vis/: overlays)"
echo "Curves:          $(realpath -m "$WORK/curves.png") (losses, PQ)"
