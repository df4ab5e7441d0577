"""tools/misc/check_dataset.py reports every problem in one pass."""
import json
import os.path as osp
import subprocess
import sys

import cv2

from mmpanoptic.datasets import write_synthetic_panoptic
from mmpanoptic.utils import id2rgb, rgb2id

from ..conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools/misc/check_dataset.py')


def _run(root, *extra):
    return subprocess.run(
        [sys.executable, TOOL,
         str(root / 'annotations/panoptic_val.json'), '--img-dir',
         str(root / 'val'), '--seg-dir',
         str(root / 'annotations/panoptic_val'), *extra],
        capture_output=True, text=True)


def test_clean_dataset_passes(tmp_path):
    write_synthetic_panoptic(str(tmp_path), dict(val=4), 40, 48, seed=2)
    result = _run(tmp_path, '--config',
                  'panoptic-fpn_r18_fpn_1xb4-800i_synthetic')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'OK: no problems found' in result.stdout
    assert 'images: 4' in result.stdout


def test_all_problems_are_reported_at_once(tmp_path):
    write_synthetic_panoptic(str(tmp_path), dict(val=6), 40, 48, seed=2)
    ann_file = tmp_path / 'annotations/panoptic_val.json'
    ann = json.loads(ann_file.read_text())
    (tmp_path / 'val/000000.png').unlink()                        # 1
    (tmp_path / 'annotations/panoptic_val/000001.png').write_bytes(b'x')  # 2
    png = tmp_path / 'annotations/panoptic_val/000002.png'
    ids = rgb2id(cv2.imread(str(png))[..., ::-1])
    ids[0, 0] = 31337                                              # 3
    cv2.imwrite(str(png), id2rgb(ids)[..., ::-1])
    ann['annotations'][3]['segments_info'][0]['area'] += 5         # 4
    ann['annotations'][3]['segments_info'][1]['bbox'][0] += 1      # 5
    ann['annotations'][4]['segments_info'][0]['category_id'] = 77  # 6
    ann['annotations'][5]['segments_info'].append(                 # 7
        dict(id=5, category_id=1, area=3, bbox=[0, 0, 1, 3], iscrowd=0))
    ann_file.write_text(json.dumps(ann))
    result = _run(tmp_path)
    out = result.stdout
    assert result.returncode == 1
    assert 'val/000000.png: image file is missing.' in out
    assert 'panoptic_val/000001.png: panoptic PNG cannot be decoded.' in out
    assert ('panoptic_val/000002.png: segment ids [31337] are in the PNG '
            'but not in the JSON') in out
    assert 'in the JSON but' in out and 'pixels in the PNG' in out
    assert 'has bbox' in out
    assert 'has category_id 77' in out
    assert ('panoptic_val/000005.png: segment ids [5] are in the JSON but '
            'have no pixels') in out
    # the 7 injected ones, plus the area the stray PNG id took from another
    assert '8 problems found' in out


def test_stuff_first_json_is_flagged(tmp_path):
    write_synthetic_panoptic(str(tmp_path), dict(val=1), 32, 32, seed=2)
    ann_file = tmp_path / 'annotations/panoptic_val.json'
    ann = json.loads(ann_file.read_text())
    ann['categories'] = ann['categories'][4:] + ann['categories'][:4]
    ann_file.write_text(json.dumps(ann))
    result = _run(tmp_path)
    assert result.returncode == 1
    assert 'categories are not things first in the JSON' in result.stdout
