#!/usr/bin/env bash
# Create .venv and install the pinned mmpanoptic stack (see requirements/*.txt).
# Idempotent: every step is skipped or a no-op when already satisfied, and pip's
# wheel cache keeps the ~11-minute mmcv build for later runs on the same machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"
# A timestamped stamp file: a repeated run with unchanged requirements does nothing.
STAMP="$VENV/.mmpanoptic-installed"
REQ_HASH=$(cat requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQ_HASH" ] \
    && "$VENV/bin/python" -c "import mmpanoptic, mmcv.ops" >/dev/null 2>&1; then
  # configs added since the install get their `mim train mmpanoptic NAME` link
  "$VENV/bin/python" -S mmpanoptic/utils/mim_link.py "$PWD"
  echo "[install] $VENV is up to date"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
$PIP install --quiet --upgrade "pip>=24"
# torch alone and first, pinned exactly; everything later sees it installed.
$PIP install --quiet -r requirements/torch.txt
$PIP install --quiet -r requirements/build.txt
# Constraint file: no later resolver may replace torch, numpy or setuptools.
CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
$VENV/bin/python - "$CONSTRAINTS" <<'PY'
import sys, importlib.metadata as md
with open(sys.argv[1], 'w') as f:
    for name in ('torch', 'numpy', 'setuptools'):
        f.write(f'{name}=={md.version(name)}\n')
PY
if ! "$VENV/bin/python" -c "import mmcv.ops" >/dev/null 2>&1; then
  echo "[install] building mmcv 2.1.0 with C++ ops (about 11 minutes on 2 cores the first time)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    $PIP install --no-build-isolation -c "$CONSTRAINTS" mmcv==2.1.0
fi
$PIP install --quiet -c "$CONSTRAINTS" -r requirements/mminstall.txt -r requirements/runtime.txt -r requirements/tests.txt
# the deploy extra (ONNX export and ONNX Runtime), so that its tests run too
$PIP install --quiet -c "$CONSTRAINTS" -r requirements/deploy.txt
$PIP install --quiet --no-deps openmim==0.3.9
$PIP install --quiet -c "$CONSTRAINTS" $(grep -v -e '^#' -e '^openmim' -e '^$' requirements/mim.txt)
$PIP install --quiet --no-build-isolation -c "$CONSTRAINTS" -e .
"$VENV/bin/python" -c "import torch, mmcv, mmcv.ops, mmdet, mmseg, mmengine, panopticapi, onnx, onnxruntime, mmpanoptic; print('[install] torch', torch.__version__, 'mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__, 'mmengine', mmengine.__version__)"
"$VENV/bin/mim" --version >/dev/null
echo "$REQ_HASH" > "$STAMP"
echo "[install] done"
