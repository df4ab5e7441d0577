"""tools/analysis_tools/analyze_thing_errors.py: the thing false negatives
of a checkpoint by cause, end to end on tiny synthetic data."""
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

from ..conftest import REPO_ROOT, load_script, tiny_synthetic_cli_options

TOOL = 'tools/analysis_tools/analyze_thing_errors.py'
CONFIG = 'unifying_r18_fpn_1xb4-800i_synthetic'


def test_cut_off_and_evaluator_from_the_config():
    tool = load_script(TOOL)
    cut_offs = {
        name: tool.config_cut_off(Config.fromfile(find_config(name)))
        for name in (CONFIG, 'panoptic-fpn_r18_fpn_1xb4-800i_synthetic',
                     'panoptic-fcn_r18_fpn_1xb4-800i_synthetic')
    }
    # Unifying: test_cfg.panoptic; Panoptic FPN: rcnn; Panoptic FCN: none
    assert cut_offs == {
        CONFIG: 0.75,
        'panoptic-fpn_r18_fpn_1xb4-800i_synthetic': 0.5,
        'panoptic-fcn_r18_fpn_1xb4-800i_synthetic': None
    }
    cfg = Config.fromfile(find_config(CONFIG))
    evaluator = tool.thing_error_evaluator(cfg, 0.6, [16, 32])
    assert evaluator == dict(
        type='ThingErrorMetric',
        cut_off=0.6,
        size_edges=[16, 32],
        ann_file=cfg.test_evaluator.ann_file,
        seg_prefix=cfg.test_evaluator.seg_prefix,
        backend_args=None)
    cfg.test_evaluator = dict(type='CocoMetric', ann_file='x.json')
    with pytest.raises(ValueError, match='not a PanopticMetric'):
        tool.thing_error_evaluator(cfg, 0.6, [16])


def test_a_model_that_detects_nothing(tmp_path):
    """Weights with a known answer: the box classifier says background and
    the semantic head 'grass' everywhere, so every GT thing is a false
    negative with no detection, and nothing is a false positive."""
    register_all_modules()
    cfg = Config.fromfile(find_config(CONFIG))
    model = MODELS.build(cfg.model)
    state = model.state_dict()
    for name in ('semantic_head.conv_logits', 'roi_head.bbox_head.fc_cls'):
        state[name + '.weight'].zero_()
        state[name + '.bias'].zero_()
    state['semantic_head.conv_logits.bias'][5] = 10.  # grass
    state['roi_head.bbox_head.fc_cls.bias'][-1] = 10.  # background
    checkpoint = str(tmp_path / 'grass.pth')
    torch.save(dict(state_dict=state), checkpoint)

    data_root = str(tmp_path / 'data')
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO_ROOT, TOOL), CONFIG, checkpoint, '--size-edges',
            '16', '32', '--work-dir',
            str(tmp_path / 'work'), '--cfg-options'
        ] + tiny_synthetic_cli_options(data_root, val=2),
        capture_output=True,
        text=True,
        cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]

    annotations = json.load(
        open(osp.join(data_root, 'annotations/panoptic_val.json')))
    is_thing = {c['id']: c['isthing'] for c in annotations['categories']}
    num_things_classes = sum(
        is_thing[s['category_id']] and not s.get('iscrowd', 0)
        for a in annotations['annotations'] for s in a['segments_info'])
    assert num_things_classes > 0
    metrics = dict(re.findall(r'thing_errors/(\w+): ([\d.]+)', output))
    assert int(metrics['matched']) == 0
    assert int(metrics['no_detection']) == num_things_classes
    assert int(metrics['below_cut_off']) == int(metrics['lost']) == 0
    assert int(metrics['false_positives']) == 0
    assert float(metrics['PQ_th']) == 0.0
    assert 'panoptic cut-off 0.75' in output  # from the config
    # the size table: three buckets and the total, recall 0
    assert re.search(r'\| all +\| ' + str(num_things_classes) + r' +\| 0\.0 ',
                     output)
