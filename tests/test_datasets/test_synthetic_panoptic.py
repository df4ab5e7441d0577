import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mmpanoptic.datasets.synthetic_generator import (SYNTHETIC_CATEGORIES,
                                                     SYNTHETIC_METAINFO,
                                                     make_panoptic_sample,
                                                     write_synthetic_panoptic)
from mmpanoptic.utils import id2rgb, rgb2id


def _load_split(root, split):
    with open(osp.join(root, 'annotations', f'panoptic_{split}.json')) as f:
        return json.load(f)


def _id_map(root, split, file_name):
    bgr = cv2.imread(
        osp.join(root, 'annotations', f'panoptic_{split}', file_name))
    return rgb2id(bgr[..., ::-1])


def test_id_rgb_round_trip():
    ids = np.array([[0, 1, 255], [256, 65536, 256**3 - 1]])
    assert (rgb2id(id2rgb(ids)) == ids).all()
    assert id2rgb(np.array([[1 + 2 * 256 + 3 * 65536]]))[0, 0].tolist() == \
        [1, 2, 3]


def test_sample_is_a_pure_function_of_the_seed():
    a = make_panoptic_sample(np.random.default_rng([1, 2]), 64, 80)
    b = make_panoptic_sample(np.random.default_rng([1, 2]), 64, 80)
    c = make_panoptic_sample(np.random.default_rng([1, 3]), 64, 80)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all() and a[2] == b[2]
    assert not (a[0] == c[0]).all()


def test_categories_are_things_first_with_isthing():
    things = [c['isthing'] for c in SYNTHETIC_CATEGORIES]
    assert things == sorted(things, reverse=True)
    assert sum(things) == len(SYNTHETIC_METAINFO['thing_classes']) == 4
    assert len(SYNTHETIC_METAINFO['stuff_classes']) == 4
    assert len(SYNTHETIC_METAINFO['palette']) == 8


@pytest.mark.parametrize('split', ['train', 'val'])
def test_json_matches_png(tiny_synthetic, split):
    root = tiny_synthetic['root']
    ann = _load_split(root, split)
    cat_ids = {c['id'] for c in ann['categories']}
    assert len(ann['images']) == tiny_synthetic['generator']['splits'][split]
    for image, annotation in zip(ann['images'], ann['annotations']):
        assert image['id'] == annotation['image_id']
        img = cv2.imread(osp.join(root, split, image['file_name']))
        assert img.shape == (image['height'], image['width'], 3)
        id_map = _id_map(root, split, annotation['file_name'])
        png_ids = set(np.unique(id_map).tolist()) - {0}
        json_ids = {s['id'] for s in annotation['segments_info']}
        assert png_ids == json_ids
        for seg in annotation['segments_info']:
            mask = id_map == seg['id']
            ys, xs = np.nonzero(mask)
            assert seg['area'] == mask.sum()
            assert seg['bbox'] == [
                xs.min(), ys.min(), xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1
            ]
            assert seg['category_id'] in cat_ids
            assert seg['iscrowd'] in (0, 1)


def test_dataset_has_the_promised_variety(tmp_path):
    write_synthetic_panoptic(str(tmp_path), dict(val=40), 96, 96, seed=0)
    ann = _load_split(str(tmp_path), 'val')
    isthing = {c['id']: c['isthing'] for c in ann['categories']}
    segs = [s for a in ann['annotations'] for s in a['segments_info']]
    thing_cats = {s['category_id'] for s in segs if isthing[s['category_id']]}
    stuff_cats = {s['category_id'] for s in segs
                  if not isthing[s['category_id']]}
    assert len(thing_cats) == 4 and len(stuff_cats) == 4
    assert any(s['iscrowd'] for s in segs)
    thing_areas = [s['area'] for s in segs
                   if isthing[s['category_id']] and not s['iscrowd']]
    assert min(thing_areas) < 150 and max(thing_areas) > 600  # small + large
    void_fraction = np.mean([
        (_id_map(str(tmp_path), 'val', a['file_name']) == 0).mean()
        for a in ann['annotations']
    ])
    assert 0.001 < void_fraction < 0.2
    # occlusion: some thing boxes overlap
    overlaps = 0
    for a in ann['annotations']:
        boxes = [s['bbox'] for s in a['segments_info']
                 if isthing[s['category_id']]]
        for i, (x, y, w, h) in enumerate(boxes):
            for (x2, y2, w2, h2) in boxes[i + 1:]:
                overlaps += (x < x2 + w2 and x2 < x + w and y < y2 + h2
                             and y2 < y + h)
    assert overlaps > 10


def test_same_seed_writes_identical_files(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    for root in (a, b):
        write_synthetic_panoptic(str(root), dict(val=3), 48, 64, seed=7)
    for rel in ('annotations/panoptic_val.json', 'val/000002.png',
                'annotations/panoptic_val/000002.png'):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


@pytest.mark.parametrize('split', ['train', 'val'])
def test_panopticapi_scores_gt_against_itself_as_perfect(
        tiny_synthetic, split, tmp_path, monkeypatch):
    from panopticapi.evaluation import pq_compute
    root = tiny_synthetic['root']
    ann_file = osp.join(root, 'annotations', f'panoptic_{split}.json')
    folder = osp.join(root, 'annotations', f'panoptic_{split}')
    monkeypatch.chdir(tmp_path)
    results = pq_compute(ann_file, ann_file, folder, folder)
    for group in ('All', 'Things', 'Stuff'):
        assert results[group]['pq'] == pytest.approx(1.0)
        assert results[group]['sq'] == pytest.approx(1.0)
        assert results[group]['rq'] == pytest.approx(1.0)


def test_mmdet_coco_panoptic_dataset_loads_it_unchanged(tiny_synthetic):
    from mmdet.datasets import CocoPanopticDataset
    from mmdet.datasets.transforms import LoadPanopticAnnotations
    from mmdet.utils import register_all_modules
    register_all_modules()
    root = tiny_synthetic['root']
    dataset = CocoPanopticDataset(
        data_root=root,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        metainfo=dict(
            classes=SYNTHETIC_METAINFO['classes'],
            thing_classes=SYNTHETIC_METAINFO['thing_classes'],
            stuff_classes=SYNTHETIC_METAINFO['stuff_classes']),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadPanopticAnnotations')
        ],
        test_mode=True)
    assert len(dataset) == 3
    raw = _load_split(root, 'val')
    label_of = {c['id']: i for i, c in enumerate(raw['categories'])}
    for index in range(len(dataset)):
        results = dataset[index]
        ann = raw['annotations'][index]
        id_map = _id_map(root, 'val', ann['file_name'])
        expected = np.full(id_map.shape, 255)
        for seg in ann['segments_info']:
            expected[id_map == seg['id']] = label_of[seg['category_id']]
        # crowd pixels keep their class in the semantic map; VOID is 255
        assert (results['gt_seg_map'] == expected).all()
        things = [s for s in ann['segments_info']
                  if label_of[s['category_id']] < 4]
        assert len(results['gt_bboxes']) == len(things)
        assert results['gt_ignore_flags'].sum() == sum(
            s['iscrowd'] for s in things)
    assert isinstance(LoadPanopticAnnotations(), LoadPanopticAnnotations)
