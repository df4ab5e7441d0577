"""Bad input: each case either works correctly or stops with an error that
names the file and what is wrong (never a crash deep inside a head)."""
import copy
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpanoptic.datasets import (PanopticDataError, SyntheticPanopticDataset,
                                 write_synthetic_panoptic)
from mmpanoptic.datasets.synthetic_generator import (SYNTHETIC_CATEGORIES,
                                                     SYNTHETIC_METAINFO)
from mmpanoptic.registry import MODELS
from mmpanoptic.utils import id2rgb, register_all_modules, rgb2id

from ..conftest import REPO_ROOT

register_all_modules()

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='PackDetInputs')
]


@pytest.fixture
def dataset_root(tmp_path):
    write_synthetic_panoptic(str(tmp_path), dict(val=3), 48, 64, seed=11)
    return tmp_path


def _ann(root):
    with open(root / 'annotations' / 'panoptic_val.json') as f:
        return json.load(f)


def _write_ann(root, ann):
    with open(root / 'annotations' / 'panoptic_val.json', 'w') as f:
        json.dump(ann, f)


def _png_path(root, index=0):
    return root / 'annotations' / 'panoptic_val' / f'{index:06d}.png'


def _read_ids(path):
    return rgb2id(cv2.imread(str(path))[..., ::-1])


def _write_ids(path, ids):
    cv2.imwrite(str(path), id2rgb(ids)[..., ::-1])


def _dataset(root, metainfo=None, pipeline=PIPELINE):
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        return SyntheticPanopticDataset(
            data_root=str(root),
            ann_file='annotations/panoptic_val.json',
            data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
            metainfo=metainfo,
            pipeline=pipeline,
            test_mode=True)


def test_missing_image_names_the_file(dataset_root):
    (dataset_root / 'val' / '000001.png').unlink()
    with pytest.raises(FileNotFoundError, match='000001.png'):
        _dataset(dataset_root)[1]


def test_corrupt_image_names_the_file(dataset_root):
    (dataset_root / 'val' / '000001.png').write_bytes(b'not a png at all')
    with pytest.raises(Exception, match=r'failed to load image.*000001.png'):
        _dataset(dataset_root)[1]


def test_missing_panoptic_png_names_the_file(dataset_root):
    _png_path(dataset_root, 2).unlink()
    with pytest.raises(FileNotFoundError, match='panoptic_val/000002.png'):
        _dataset(dataset_root)[2]


def test_corrupt_panoptic_png_names_the_file(dataset_root):
    _png_path(dataset_root).write_bytes(b'\x89PNG broken')
    with pytest.raises(PanopticDataError,
                       match=r'000000.png: the panoptic PNG cannot be'):
        _dataset(dataset_root)[0]


def test_png_size_differs_from_image(dataset_root):
    ids = _read_ids(_png_path(dataset_root))
    _write_ids(_png_path(dataset_root), ids[:-4])
    with pytest.raises(PanopticDataError, match=r'000000.png.*64x44.*64x48'):
        _dataset(dataset_root)[0]


def test_segment_in_png_but_not_in_json(dataset_root):
    ids = _read_ids(_png_path(dataset_root))
    ids[:3, :3] = 4242
    _write_ids(_png_path(dataset_root), ids)
    with pytest.raises(PanopticDataError,
                       match=r'000000.png: segment ids \[4242\] are in the '
                       r'PNG but not in the JSON \(9 pixels\)'):
        _dataset(dataset_root)[0]


def test_segment_in_json_but_not_in_png(dataset_root):
    ann = _ann(dataset_root)
    ann['annotations'][1]['segments_info'].append(
        dict(id=777, category_id=1, area=10, bbox=[0, 0, 4, 4], iscrowd=0))
    _write_ann(dataset_root, ann)
    with pytest.raises(PanopticDataError,
                       match=r'000001.png: segment ids \[777\] are in the '
                       r'JSON but have no pixels'):
        _dataset(dataset_root)[1]


def test_unknown_category_id_fails_when_the_dataset_is_built(dataset_root):
    ann = _ann(dataset_root)
    ann['annotations'][2]['segments_info'][0]['category_id'] = 99
    _write_ann(dataset_root, ann)
    with pytest.raises(PanopticDataError,
                       match=r'panoptic_val.json: 000002.png: segment \d+ '
                       r'has category_id 99'):
        _dataset(dataset_root)


def test_classes_not_things_first(dataset_root):
    metainfo = copy.deepcopy(SYNTHETIC_METAINFO)
    metainfo['classes'] = metainfo['stuff_classes'] + metainfo['thing_classes']
    with pytest.raises(PanopticDataError, match='things first'):
        _dataset(dataset_root, metainfo=metainfo)


def test_stuff_listed_as_thing(dataset_root):
    metainfo = copy.deepcopy(SYNTHETIC_METAINFO)
    metainfo['thing_classes'] = metainfo['thing_classes'] + ('sky', )
    metainfo['stuff_classes'] = tuple(
        c for c in metainfo['stuff_classes'] if c != 'sky')
    metainfo['classes'] = metainfo['thing_classes'] + metainfo[
        'stuff_classes']
    with pytest.raises(PanopticDataError,
                       match="'sky' is a thing class of the dataset but has "
                       'isthing=0'):
        _dataset(dataset_root, metainfo=metainfo)


def test_class_missing_from_file(dataset_root):
    ann = _ann(dataset_root)
    ann['categories'] = [c for c in ann['categories'] if c['name'] != 'wall']
    for a in ann['annotations']:
        a['segments_info'] = [s for s in a['segments_info']
                              if s['category_id'] != 24]
    _write_ann(dataset_root, ann)
    with pytest.raises(PanopticDataError,
                       match=r"classes \['wall'\] are not categories"):
        _dataset(dataset_root)


def _rewrite_image(root, ids, image=None, index=0, keep=None):
    """Replace image ``index`` by ``ids`` (and ``image``), JSON to match."""
    ann = _ann(root)
    categories = {}
    for a in ann['annotations']:
        for s in a['segments_info']:
            categories[s['id']] = (s['category_id'], s['iscrowd'])
    categories.update(keep or {})
    segments = []
    for seg_id in np.unique(ids):
        if seg_id == 0:
            continue
        ys, xs = np.nonzero(ids == seg_id)
        category, iscrowd = categories[int(seg_id)]
        segments.append(
            dict(id=int(seg_id), category_id=category, area=len(ys),
                 bbox=[int(xs.min()), int(ys.min()),
                       int(xs.max() - xs.min() + 1),
                       int(ys.max() - ys.min() + 1)], iscrowd=iscrowd))
    ann['annotations'][index]['segments_info'] = segments
    height, width = ids.shape
    ann['images'][index].update(height=height, width=width)
    _write_ann(root, ann)
    _write_ids(_png_path(root, index), ids)
    if image is None:
        image = np.random.default_rng(0).integers(
            0, 255, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(root / 'val' / f'{index:06d}.png'), image)


@pytest.fixture(scope='module')
def baseline_model():
    cfg = Config.fromfile(
        osp.join(
            REPO_ROOT,
            'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py')
    )
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _loss_and_predict(model, sample):
    """Train-mode loss on a batch of two copies of one packed sample (a
    batch of one image smaller than the largest stride leaves BatchNorm a
    single value per channel: undefined, as in any PyTorch model), then a
    prediction on the sample alone."""
    batch = dict(inputs=[sample['inputs']] * 2,
                 data_samples=[sample['data_samples']] * 2)
    model.train()
    losses = model.loss(*model.data_preprocessor(batch, True).values())
    total = sum(
        sum(t.sum() for t in (v if isinstance(v, list) else [v]))
        for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        result = model.test_step(
            dict(inputs=[sample['inputs']],
                 data_samples=[sample['data_samples']]))[0]
    panoptic = result.pred_panoptic_seg.sem_seg
    assert panoptic.shape[-2:] == sample['data_samples'].ori_shape
    return losses, result


def _stuff_and_thing_ids():
    stuff = {1000 + k: (c['id'], 0) for k, c in enumerate(
        c for c in SYNTHETIC_CATEGORIES if not c['isthing'])}
    things = {2000 + k: (1 + k % 4, 0) for k in range(400)}
    crowd = {9000: (2, 1)}
    return {**stuff, **things, **crowd}


@pytest.mark.parametrize('case', [
    'no_segments', 'only_stuff', 'only_crowd', 'smaller_than_stride',
    'extreme_aspect', 'grayscale'
])
def test_degenerate_images_train_and_predict(dataset_root, baseline_model,
                                             case):
    known = _stuff_and_thing_ids()
    image = None
    if case == 'no_segments':
        ids = np.zeros((40, 56), np.int64)
    elif case == 'only_stuff':
        ids = np.full((40, 56), 1000)
        ids[:, 30:] = 1001
    elif case == 'only_crowd':
        ids = np.zeros((40, 56), np.int64)
        ids[10:30, 10:40] = 9000
    elif case == 'smaller_than_stride':  # FPN's largest stride is 64
        ids = np.full((20, 24), 1002)
        ids[5:15, 5:15] = 2000
    elif case == 'extreme_aspect':
        ids = np.full((32, 640), 1003)
        ids[4:28, 100:130] = 2001
    else:  # grayscale image file
        ids = np.full((40, 56), 1000)
        ids[10:30, 10:30] = 2002
        image = np.random.default_rng(1).integers(0, 255, (40, 56),
                                                  dtype=np.uint8)
    _rewrite_image(dataset_root, ids, image=image, keep=known)
    sample = _dataset(dataset_root)[0]
    assert sample['inputs'].shape[0] == 3  # grayscale loads as 3 channels
    gt = sample['data_samples']
    expected_things = int((np.unique(ids) >= 2000).sum() -
                          (np.unique(ids) == 9000).sum())
    assert len(gt.gt_instances) == expected_things
    losses, _ = _loss_and_predict(baseline_model, sample)
    assert 'loss_seg' in losses


def test_more_than_255_instances(dataset_root, baseline_model):
    known = _stuff_and_thing_ids()
    ids = np.full((60, 100), 1000)
    k = 0
    for y in range(0, 60, 3):
        for x in range(0, 60, 4):
            ids[y:y + 2, x:x + 3] = 2000 + k
            k += 1
    assert k == 300
    _rewrite_image(dataset_root, ids, keep=known)
    sample = _dataset(dataset_root)[0]
    gt = sample['data_samples']
    assert len(gt.gt_instances) == 300
    masks = gt.gt_instances.masks.to_ndarray()
    assert masks.sum() == 300 * 6 and (masks.sum(0) <= 1).all()
    sem = gt.gt_sem_seg.sem_seg[0].numpy()
    assert (sem[ids == 1000] == 4).all()  # sky is label 4 (after 4 things)
    labels = gt.gt_instances.labels.numpy()
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3]
    _loss_and_predict(baseline_model, sample)


def test_real_coco_sample_loads_with_coco_classes():
    """The two real COCO val images (133 categories, crowd) load through
    mmpanoptic's CocoPanopticDataset with mmdet's COCO class list."""
    from mmdet.datasets import CocoPanopticDataset as MMDetDataset

    from mmpanoptic.datasets import CocoPanopticDataset
    root = osp.join(REPO_ROOT, '..', 'shared', 'data', 'coco_panoptic_sample')
    kwargs = dict(
        data_root=root,
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
        pipeline=PIPELINE,
        test_mode=True)
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        ours = CocoPanopticDataset(**kwargs)
    theirs = MMDetDataset(**{**kwargs, 'pipeline': []})
    assert len(ours) == len(theirs) == 2
    for index in range(2):
        assert ours.get_data_info(index)['segments_info'] == \
            theirs.get_data_info(index)['segments_info']
        assert ours.get_data_info(index)['instances'] == \
            theirs.get_data_info(index)['instances']
        sample = ours[index]['data_samples']
        assert sample.gt_sem_seg.sem_seg.shape[-2:] == sample.ori_shape
