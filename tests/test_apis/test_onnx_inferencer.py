"""PanopticInferencer with an exported Panoptic FCN in ONNX Runtime: the
same COCO panoptic outputs as with the checkpoint it was exported from."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmpanoptic.apis import PanopticInferencer
from mmpanoptic.apis.panoptic_inferencer import resolve_backend
from mmpanoptic.utils import rgb2id

from ..conftest import tiny_synthetic_cfg_options
from ..test_deployment.synthetic_models import (FCN_TEST_CFG,
                                                export_synthetic_fcn,
                                                synthetic_config)

RENAMED = tuple(f'class{i}' for i in range(8))


@pytest.fixture(scope='module')
def exported(tiny_synthetic, tmp_path_factory):
    cfg = synthetic_config(**FCN_TEST_CFG)
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    checkpoint, onnx_file = export_synthetic_fcn(
        cfg, str(tmp_path_factory.mktemp('exported')),
        dict(classes=RENAMED, thing_classes=RENAMED[:4]))
    return cfg, checkpoint, onnx_file


def test_onnx_file_gives_the_checkpoints_outputs(exported, tiny_synthetic,
                                                 tmp_path):
    cfg, checkpoint, onnx_file = exported
    folder = osp.join(tiny_synthetic['root'], 'val')
    names = sorted(os.listdir(folder))
    outputs = {}
    for backend, inferencer in (
        ('pytorch',
         PanopticInferencer(
             cfg, checkpoint, device='cpu', show_progress=False)),
            # no config: the one stored in the file
        ('onnxruntime',
         PanopticInferencer(weights=onnx_file, show_progress=False))):
        assert inferencer.backend == backend
        assert tuple(inferencer.model.dataset_meta['classes']) == RENAMED
        out_dir = tmp_path / backend
        results = inferencer(folder, out_dir=str(out_dir))
        assert len(results['predictions']) == len(names) == 3
        assert sorted(os.listdir(out_dir / 'vis')) == names
        outputs[backend] = out_dir
    segments = 0
    for name in names:
        stem = osp.splitext(name)[0]
        ids, infos = [], []
        for out_dir in outputs.values():
            png = cv2.imread(str(out_dir / 'panoptic' / name))
            ids.append(rgb2id(png[..., ::-1]))
            infos.append(
                json.loads((out_dir / 'panoptic' /
                            (stem + '.json')).read_text())['segments_info'])
        assert (ids[0] == ids[1]).mean() >= 0.999
        described = [[(s['category_name'], s['isthing']) for s in info]
                     for info in infos]
        assert described[0] == described[1]
        for a, b in zip(*infos):
            assert abs(a['area'] - b['area']) <= 0.001 * ids[0].size
        segments += len(infos[0])
        overlays = [
            cv2.imread(str(out_dir / 'vis' / name))
            for out_dir in outputs.values()
        ]
        image = cv2.imread(osp.join(folder, name))
        assert overlays[0].shape == overlays[1].shape == image.shape
        assert (overlays[1] != image).any()
        assert (overlays[0] != overlays[1]).any(-1).mean() <= 0.01
    assert segments >= 3 * 2  # things and stuff: not vacuous


def test_backend_choice_and_errors(exported):
    _, checkpoint, onnx_file = exported
    assert resolve_backend(None, onnx_file) == 'onnxruntime'
    assert resolve_backend(None, checkpoint) == 'pytorch'
    assert resolve_backend(None, None) == 'pytorch'
    with pytest.raises(ValueError, match='needs an .onnx file'):
        resolve_backend('onnxruntime', checkpoint)
    with pytest.raises(ValueError, match="backend='onnxruntime'"):
        resolve_backend('pytorch', onnx_file)
    with pytest.raises(ValueError, match='must be one of'):
        resolve_backend('tensorrt', onnx_file)
    # an image array with the onnx file: the segment-id map is returned
    inferencer = PanopticInferencer(
        weights=onnx_file, backend='onnxruntime', show_progress=False)
    image = np.full((70, 90, 3), 128, np.uint8)
    result = inferencer(image)['predictions'][0]
    assert result['panoptic_seg'].shape == (70, 90)
