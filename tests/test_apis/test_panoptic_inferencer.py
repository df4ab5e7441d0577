"""PanopticInferencer: COCO panoptic outputs, checkpoints, folders."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpanoptic.apis import PanopticInferencer, panoptic_to_coco
from mmpanoptic.utils import id2rgb, rgb2id

from ..conftest import REPO_ROOT, tiny_synthetic_cfg_options

CONFIG = osp.join(
    REPO_ROOT,
    'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py')


def test_panoptic_to_coco_by_hand():
    # 4 things + 4 stuff, VOID = 8
    pan = np.array([[5, 5, 1002],
                    [8, 2001, 1002],
                    [8, 2001, 3]])
    ids, segments = panoptic_to_coco(pan, num_classes=8, num_things_classes=4)
    # values sorted: 3, 5, 1002, 2001 -> ids 1..4, VOID -> 0
    assert ids.tolist() == [[2, 2, 3], [0, 4, 3], [0, 4, 1]]
    assert segments == [
        dict(id=1, category_id=3, isthing=1, iscrowd=0, area=1,
             bbox=[2, 2, 1, 1]),  # label 3 < 4: a thing class
        dict(id=2, category_id=5, isthing=0, iscrowd=0, area=2,
             bbox=[0, 0, 2, 1]),
        dict(id=3, category_id=2, isthing=1, iscrowd=0, area=2,
             bbox=[2, 0, 1, 2]),
        dict(id=4, category_id=1, isthing=1, iscrowd=0, area=2,
             bbox=[1, 1, 1, 2]),
    ]
    # without num_things_classes: a thing is a segment with an instance id
    _, segments = panoptic_to_coco(pan, num_classes=8)
    assert [s['isthing'] for s in segments] == [0, 0, 1, 1]
    with pytest.raises(ValueError, match='out of range'):
        panoptic_to_coco(np.array([[9]]), num_classes=8)


def test_segment_ids_to_rgb_round_trip():
    ids = np.array([[0, 1, 255], [256, 70000, 256**3 - 1]])
    assert (rgb2id(id2rgb(ids)) == ids).all()


@pytest.fixture(scope='module')
def tiny_cfg(tiny_synthetic):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(
        tiny_synthetic_cfg_options(tiny_synthetic['root'],
                                   tiny_synthetic['generator']))
    return cfg


def _check_written(out_dir, image_names):
    stems = [osp.splitext(n)[0] for n in image_names]
    assert sorted(os.listdir(osp.join(out_dir, 'vis'))) == sorted(image_names)
    assert sorted(os.listdir(osp.join(out_dir, 'panoptic'))) == sorted(
        [s + '.json' for s in stems] + [s + '.png' for s in stems])
    for stem in stems:
        png = cv2.imread(osp.join(out_dir, 'panoptic', stem + '.png'))
        ids = rgb2id(png[..., ::-1])
        info = json.load(open(osp.join(out_dir, 'panoptic', stem + '.json')))
        assert info['file_name'] == stem + '.png'
        # every pixel's segment is in the JSON with its exact area
        areas = {s['id']: s['area'] for s in info['segments_info']}
        found, counts = np.unique(ids[ids > 0], return_counts=True)
        assert dict(zip(found.tolist(), counts.tolist())) == areas
        names = [c['name'] for c in info['categories']]
        for segment in info['segments_info']:
            assert segment['category_name'] == names[segment['category_id']]


def test_folder_random_weights_writes_coco_panoptic(tiny_cfg, tiny_synthetic,
                                                    tmp_path):
    with pytest.warns(UserWarning, match='randomly initialised') as record:
        inferencer = PanopticInferencer(
            tiny_cfg, device='cpu', show_progress=False)
    # the outputs are written by the inferencer: no storage backend that
    # warns about its missing save_dir
    assert not [w for w in record if 'save_dir' in str(w.message)]
    # classes come from the config's dataset, not COCO
    assert inferencer.model.dataset_meta['classes'][:2] == ('disc', 'box')
    folder = osp.join(tiny_synthetic['root'], 'val')
    results = inferencer(folder, out_dir=str(tmp_path))
    names = sorted(os.listdir(folder))
    assert len(results['predictions']) == len(names) == 3
    _check_written(str(tmp_path), names)
    assert results['predictions'][0]['panoptic_seg_path'] == osp.join(
        str(tmp_path), 'panoptic', names[0])

    # an array input, nothing written: the segment-id map is returned
    image = cv2.imread(osp.join(folder, names[0]))
    result = inferencer(image)['predictions'][0]
    ids = result['panoptic_seg']
    assert ids.shape == image.shape[:2]
    assert sorted(np.unique(ids[ids > 0]).tolist()) == [
        s['id'] for s in result['segments_info']
    ]


def test_checkpoint_classes_and_weights_are_used(tiny_cfg, tiny_synthetic,
                                                 tmp_path):
    first = PanopticInferencer(tiny_cfg, device='cpu', show_progress=False)
    renamed = tuple(f'class{i}' for i in range(8))
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(
        dict(
            state_dict=first.model.state_dict(),
            meta=dict(
                dataset_meta=dict(
                    classes=renamed, thing_classes=renamed[:4]))),
        checkpoint)
    second = PanopticInferencer(
        tiny_cfg, checkpoint, device='cpu', show_progress=False)
    assert second.model.dataset_meta['classes'] == renamed
    image = osp.join(tiny_synthetic['root'], 'val', '000000.png')
    a = first(image, return_datasamples=True)['predictions'][0]
    b = second(image, return_datasamples=True)['predictions'][0]
    assert torch.equal(a.pred_panoptic_seg.sem_seg,
                       b.pred_panoptic_seg.sem_seg)


def test_config_name_and_clear_errors(tmp_path):
    inferencer = PanopticInferencer(
        'panoptic-fpn_r18_fpn_1xb4-800i_synthetic',
        device='cpu',
        show_progress=False)
    assert osp.basename(inferencer.cfg.filename
                        ) == 'panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py'
    with pytest.raises(ValueError, match='empty'):
        inferencer(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no-such-config'):
        PanopticInferencer('no-such-config')
