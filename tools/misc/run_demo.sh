#!/usr/bin/env bash
# The `make demo` job: data -> train (PQ validated every VAL_INTERVAL
# iterations) -> test (PQ) -> visualisations, demo outputs, curves.
# ITERS (default 500) shortens the config's schedule (800 iterations, lr
# step at 3/4) to fit 15 minutes on 2 CPU cores with UPSNet; the lr step
# stays at 3/4. ITERS=800 trains the config's full budget (the one of
# docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-upsnet_r18_fpn_1xb4-800i_synthetic}
DATA=${DATA:-data/synthetic_panoptic}
WORK=${WORK:-work_dirs/demo/$MODEL}
PY=${PY:-.venv/bin/python}
ITERS=${ITERS:-500}
VAL_INTERVAL=${VAL_INTERVAL:-$(( ITERS / 2 ))}
DEMO_IMAGES=${DEMO_IMAGES:-8}
start=$(date +%s)

echo "== 1/4 synthetic data -> $DATA"
$PY tools/misc/make_synthetic_panoptic.py "$DATA" --train 200 --val 50 --size 128 128 --seed 0

echo "== 2/4 training $MODEL on CPU for $ITERS iterations (work dir $WORK)"
$PY tools/train.py "$MODEL" --work-dir "$WORK" \
    --cfg-options train_cfg.max_iters="$ITERS" \
    train_cfg.val_interval="$VAL_INTERVAL" \
    param_scheduler.1.end="$ITERS" \
    "param_scheduler.1.milestones=[$(( ITERS * 3 / 4 ))]" \
    default_hooks.logger.log_metric_by_epoch=False
# this run's log: the newest timestamp folder (earlier demos may be there)
TRAIN_LOG="$(ls -td "$WORK"/2*/ | head -n 1)vis_data/scalars.json"

echo "== 3/4 evaluating on the val split and drawing predictions"
rm -rf "$WORK/vis"
$PY tools/test.py "$MODEL" "$WORK/iter_$ITERS.pth" \
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
