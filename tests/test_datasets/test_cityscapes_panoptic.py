"""CityscapesPanopticDataset on a tiny fake ``gtFine`` tree converted by
tools/dataset_converters/cityscapes.py, through the config's pipelines."""
import os
import os.path as osp
from typing import Optional

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmpanoptic.datasets.cityscapes_panoptic import (
    CITYSCAPES_PANOPTIC_METAINFO, CityscapesPanopticDataset)
from mmpanoptic.registry import DATASETS, METRICS

from ..conftest import REPO_ROOT, load_script

CONVERTER = 'tools/dataset_converters/cityscapes.py'

# Cityscapes label ids used below
ROAD, BUILDING, VEGETATION, SKY, PERSON, CAR = 7, 11, 21, 23, 24, 26
EGO_VEHICLE, PARKING, CARAVAN = 1, 9, 29  # ignoreInEval: VOID


def hand_made_instance_ids() -> np.ndarray:
    """(8, 16) instanceIds with instances, a crowd group and VOID classes."""
    ids = np.full((8, 16), ROAD, np.int64)
    ids[0:2, :] = SKY
    ids[2:4, 0:6] = BUILDING
    ids[2:4, 6:] = VEGETATION
    ids[4:7, 1:4] = CAR * 1000 + 0
    ids[5:8, 8:11] = CAR * 1000 + 1
    ids[6:8, 5:7] = CAR  # car group: crowd
    ids[2:5, 4] = PERSON * 1000 + 2
    ids[7, 0:2] = EGO_VEHICLE
    ids[7, 15] = CARAVAN * 1000
    ids[4, 13:16] = PARKING
    return ids


# createPanopticImgs' output for hand_made_instance_ids(), counted by hand:
# (id, category_id, area, bbox, iscrowd); ids 1, 9, 29000 become VOID
HAND_MADE_SEGMENTS = [
    (7, ROAD, 35, [0, 4, 16, 4], 0),
    (11, BUILDING, 10, [0, 2, 6, 2], 0),
    (21, VEGETATION, 20, [6, 2, 10, 2], 0),
    (23, SKY, 32, [0, 0, 16, 2], 0),
    (26, CAR, 4, [5, 6, 2, 2], 1),
    (24002, PERSON, 3, [4, 2, 1, 3], 0),
    (26000, CAR, 9, [1, 4, 3, 3], 0),
    (26001, CAR, 9, [8, 5, 3, 3], 0),
]


def random_instance_ids(rng, height=16, width=32) -> np.ndarray:
    ids = rng.choice([ROAD, 8, BUILDING, 17, VEGETATION, SKY, 0, 4],
                     size=(height // 4, width // 4))
    ids = np.kron(ids, np.ones((4, 4), np.int64))
    for k in range(int(rng.integers(1, 6))):
        label = int(rng.choice([24, 25, 26, 27, 28, 31, 32, 33, 29]))
        y, x = rng.integers(0, height - 3), rng.integers(0, width - 3)
        value = label if rng.random() < 0.2 else label * 1000 + k
        ids[y:y + int(rng.integers(2, 6)), x:x + int(rng.integers(2, 8))] = \
            value
    return ids


def write_fake_gtfine(root: str, images: Optional[dict] = None) -> dict:
    """The real layout and encoding: gtFine/<split>/<city>/<name>_gtFine_
    {instanceIds,labelIds}.png (16-bit / 8-bit) and leftImg8bit images.

    ``images`` maps (split, city, name) to instanceIds; by default the
    hand-made image and three random ones."""
    rng = np.random.default_rng(0)
    if images is None:
        images = {
            ('val', 'aachen', 'aachen_000000_000019'):
            hand_made_instance_ids(),
            ('val', 'bochum', 'bochum_000000_000313'):
            random_instance_ids(rng),
            ('train', 'zurich', 'zurich_000001_000019'):
            random_instance_ids(rng),
            ('train', 'zurich', 'zurich_000002_000019'):
            random_instance_ids(rng),
        }
    for (split, city, name), instance_ids in images.items():
        gt_dir = osp.join(root, 'gtFine', split, city)
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        os.makedirs(gt_dir, exist_ok=True)
        os.makedirs(img_dir, exist_ok=True)
        label_ids = np.where(instance_ids < 1000, instance_ids,
                             instance_ids // 1000)
        cv2.imwrite(
            osp.join(gt_dir, f'{name}_gtFine_instanceIds.png'),
            instance_ids.astype(np.uint16))
        cv2.imwrite(
            osp.join(gt_dir, f'{name}_gtFine_labelIds.png'),
            label_ids.astype(np.uint8))
        h, w = instance_ids.shape
        cv2.imwrite(
            osp.join(img_dir, f'{name}_leftImg8bit.png'),
            rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return images


@pytest.fixture(scope='module')
def cityscapes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    images = write_fake_gtfine(root)
    converter = load_script(CONVERTER)
    for split in ('train', 'val'):
        converter.convert_split(root, split, osp.join(root, 'gtFine'))
    return root, images


def _dataset(root, split, pipeline):
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/_base_/datasets/cityscapes_panoptic.py'))
    loader = cfg.train_dataloader if split == 'train' else cfg.val_dataloader
    dataset_cfg = loader.dataset
    dataset_cfg.data_root = root
    dataset_cfg.pipeline = cfg[pipeline]
    if split == 'train':
        dataset_cfg.filter_cfg = None
    init_default_scope('mmpanoptic')
    return DATASETS.build(dataset_cfg), cfg


def test_metainfo_things_first_with_cityscapes_colours():
    from cityscapesscripts.helpers.labels import name2label
    meta = CityscapesPanopticDataset.METAINFO
    assert len(meta['thing_classes']) == 8 and len(meta['stuff_classes']) == 11
    assert meta['classes'] == meta['thing_classes'] + meta['stuff_classes']
    for name, color in zip(meta['classes'], meta['palette']):
        label = name2label[name]
        assert tuple(label.color) == tuple(color)
        assert not label.ignoreInEval
        assert label.hasInstances == (name in meta['thing_classes'])


def test_val_item_through_the_test_pipeline(cityscapes):
    root, _ = cityscapes
    dataset, _ = _dataset(root, 'val', 'test_pipeline')
    assert len(dataset) == 2
    item = dataset[0]
    sample = item['data_samples']
    assert sample.img_path.endswith(
        'leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png')
    assert sample.ori_shape == (8, 16)
    assert tuple(item['inputs'].shape) == (3, 1024, 2048)  # full resolution
    # GT at the original size, things first: person 0, car 2, road 8,
    # building 10, vegetation 16, sky 18; crowd keeps its class; VOID 255
    sem = sample.gt_sem_seg.sem_seg[0].numpy()
    ids = hand_made_instance_ids()
    classes = CITYSCAPES_PANOPTIC_METAINFO['classes']
    expected = np.full(ids.shape, 255)
    for label_id, name in ((ROAD, 'road'), (BUILDING, 'building'),
                           (VEGETATION, 'vegetation'), (SKY, 'sky'), (CAR,
                                                                      'car')):
        expected[ids == label_id] = classes.index(name)
    expected[ids // 1000 == CAR] = classes.index('car')
    expected[ids // 1000 == PERSON] = classes.index('person')
    np.testing.assert_array_equal(sem, expected)
    assert sorted(sample.gt_instances.labels.tolist()) == [0, 2, 2]
    boxes = sorted(sample.gt_instances.bboxes.tensor.tolist())
    assert boxes == [[1, 4, 4, 7], [4, 2, 5, 5], [8, 5, 11, 8]]
    assert len(sample.ignored_instances) == 0  # crowd: as mmdet, no box


def test_train_item_through_the_papers_pipeline(cityscapes):
    root, _ = cityscapes
    dataset, _ = _dataset(root, 'train', 'train_pipeline')
    assert len(dataset) == 2
    torch.manual_seed(0)
    np.random.seed(0)
    item = dataset[0]
    # every scale in 0.5-2.0 of 1024x2048 is at least 512x1024: full crop
    assert tuple(item['inputs'].shape) == (3, 512, 1024)
    sample = item['data_samples']
    assert tuple(sample.gt_sem_seg.sem_seg.shape) == (1, 512, 1024)
    masks = sample.gt_instances.masks
    assert masks.height == 512 and masks.width == 1024


def test_metric_of_the_config_scores_gt_as_perfect(cityscapes):
    """The config's PanopticMetric accepts the converted categories (things
    first) and scores the ground truth itself as PQ 100 (the whole evaluator
    list: tests/test_evaluation/test_config_evaluators.py)."""
    from mmpanoptic.evaluation import INSTANCE_OFFSET
    root, images = cityscapes
    dataset, cfg = _dataset(root, 'val', 'test_pipeline')
    evaluator = dict(cfg.val_evaluator[0])
    assert evaluator['type'] == 'PanopticMetric'
    evaluator['ann_file'] = osp.join(root,
                                     'gtFine/cityscapes_panoptic_val.json')
    evaluator['seg_prefix'] = osp.join(root, 'gtFine/cityscapes_panoptic_val')
    metric = METRICS.build(evaluator)
    metric.dataset_meta = dataset.metainfo
    by_name = {name: ids for (_, _, name), ids in images.items()}
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples']
        ids = by_name[osp.basename(sample.img_path)[:-len('_leftImg8bit.png')]]
        instance = np.unique(ids, return_inverse=True)[1].reshape(ids.shape)
        sem = sample.gt_sem_seg.sem_seg[0].numpy().astype(np.int64)
        pred = np.where(sem == 255, 19, sem + instance * INSTANCE_OFFSET)
        metric.process({}, [
            dict(
                img_id=sample.img_id,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None])),
                pred_sem_seg=dict(
                    sem_seg=torch.from_numpy(
                        np.where(sem == 255, 0, sem)[None])))
        ])
    result = metric.evaluate(len(dataset))
    assert result['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert result['coco_panoptic/mIoU'] == pytest.approx(100.0)
