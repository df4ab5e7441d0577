"""PanopticMetric against panopticapi (the reference) and known answers."""
import copy
import json
import os.path as osp
import pickle
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmpanoptic.evaluation import (INSTANCE_OFFSET, PanopticMetric,
                                   decode_panoptic_png)
from mmpanoptic.evaluation.functional import panoptic_png
from mmpanoptic.registry import METRICS
from mmpanoptic.utils import id2rgb, rgb2id
from .panoptic_cases import (CATEGORIES, METAINFO, NUM_CLASSES, NUM_THINGS,
                             random_ground_truth, random_prediction,
                             reference_pq, write_case)

# the random cases give some JSON areas that differ from the PNG on purpose
# (panopticapi trusts the JSON); the warning itself is tested below
pytestmark = pytest.mark.filterwarnings('ignore:GT segment')

COCO_SAMPLE = osp.join(
    osp.dirname(__file__), '..', '..', '..', 'shared', 'data',
    'coco_panoptic_sample')


def _sample(image_id, pred, sem=None, **extra):
    sample = dict(
        img_id=image_id,
        img_path=f'img/{image_id:06d}.jpg',
        pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None])),
        **extra)
    if sem is not None:
        sample['pred_sem_seg'] = dict(sem_seg=torch.from_numpy(sem[None]))
    return sample


def _metric(gt_json, meta=METAINFO, **kwargs):
    metric = PanopticMetric(
        ann_file=gt_json, seg_prefix=gt_json[:-5], classwise=True, **kwargs)
    metric.dataset_meta = meta
    return metric


def _evaluate(metric, samples):
    for sample in samples:
        metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def _assert_equal_to_reference(ours, reference, categories=CATEGORIES):
    for category in categories:
        ref = reference['per_class'][category['id']]
        name = category['name']
        for key in ('tp', 'fp', 'fn'):
            assert ours[f'{name}_{key.upper()}'] == ref[key], (name, key)
        seen = ref['tp'] + ref['fp'] + ref['fn'] > 0
        ref_pq = ref['iou'] / (ref['tp'] + 0.5 * ref['fp'] + 0.5 * ref['fn']) \
            if seen else 0.0
        assert ours[f'{name}_PQ'] == pytest.approx(
            100 * ref_pq, rel=1e-12, abs=1e-12)
    for group, suffix in (('All', ''), ('Things', '_th'), ('Stuff', '_st')):
        for key in ('pq', 'sq', 'rq'):
            assert ours[key.upper() + suffix] == pytest.approx(
                100 * reference[group][key], rel=1e-12,
                abs=1e-12), (group, key)


@pytest.mark.parametrize('compiled', [True, False])
def test_randomised_cases_equal_panopticapi(tmp_path, monkeypatch, compiled):
    """300+ random images in 60 datasets: crowd (several per class), VOID,
    empty images, unknown GT ids, JSON areas != PNG areas, classes missing
    or only predicted; every count and average equals panopticapi's, with
    the compiled counting kernel and with the numpy path."""
    if not compiled:
        monkeypatch.setattr(panoptic_png, '_panoptic_count_ext', None)
    rng = np.random.default_rng(2026)
    num_images = 0
    totals = dict(tp=0, fp=0, fn=0)
    for case in range(60):
        images = []
        for image_id in range(int(rng.integers(1, 10))):
            height, width = (int(v) for v in rng.integers(12, 40, size=2))
            empty_gt = rng.random() < 0.05
            gt_map, segments = random_ground_truth(rng, height, width,
                                                   empty_gt)
            crowd_labels = tuple(
                i for i, c in enumerate(CATEGORIES) for s in segments
                if s['iscrowd'] and s['category_id'] == c['id'])
            pred = random_prediction(rng, gt_map, segments,
                                     rng.random() < 0.05, crowd_labels)
            images.append((image_id, gt_map, segments, pred))
        num_images += len(images)
        gt_json, pred_json = write_case(str(tmp_path), f'case{case}', images)
        reference = reference_pq(gt_json, pred_json)
        ours = _evaluate(
            _metric(gt_json), [_sample(i, pred) for i, _, _, pred in images])
        _assert_equal_to_reference(ours, reference)
        for c in CATEGORIES:
            for key in totals:
                totals[key] += reference['per_class'][c['id']][key]
    assert num_images >= 250
    assert min(totals.values()) > 50  # the cases exercise every count


def _one_image_case(tmp_path, gt_map, segments, pred):
    gt_json, pred_json = write_case(
        str(tmp_path), 'hand', [(0, gt_map, segments, pred)])
    return (_evaluate(_metric(gt_json),
                      [_sample(0, pred)]), reference_pq(gt_json, pred_json))


def test_unmatched_prediction_on_last_crowd_segment_is_ignored(tmp_path):
    """Two crowd segments of class t0 (ids 7, 9): only the last one listed
    counts for the FP rule, as in panopticapi."""
    gt = np.zeros((4, 8), np.int64)
    gt[:, :4], gt[:, 4:] = 7, 9
    segments = [
        dict(id=7, category_id=3, iscrowd=1, area=16),
        dict(id=9, category_id=3, iscrowd=1, area=16)
    ]
    pred = np.full((4, 8), NUM_CLASSES, np.int64)
    pred[:2, :3] = 0 + 1 * INSTANCE_OFFSET  # t0 on the first crowd: FP
    pred[2:, :3] = 0 + 3 * INSTANCE_OFFSET  # t0 on the first crowd: FP
    pred[:, 5:] = 0 + 2 * INSTANCE_OFFSET  # t0 on the last crowd: ignored
    ours, reference = _one_image_case(tmp_path, gt, segments, pred)
    assert (ours['t0_TP'], ours['t0_FP'], ours['t0_FN']) == (0, 2, 0)
    _assert_equal_to_reference(ours, reference)


def test_iou_uses_json_area_and_excludes_void(tmp_path):
    """GT area 10 in the JSON (8 pixels in the PNG); the prediction covers 6
    GT pixels and 4 VOID pixels: IoU = 6 / (10 + 10 - 6 - 4) = 0.6."""
    gt = np.zeros((2, 10), np.int64)
    gt[0, :8] = 5
    segments = [dict(id=5, category_id=8, iscrowd=0, area=10)]
    pred = np.full((2, 10), NUM_CLASSES, np.int64)
    pred[0, 2:] = NUM_THINGS  # stuff s0: 6 on GT, 2 on VOID
    pred[1, :2] = NUM_THINGS  # 2 more on VOID
    ours, reference = _one_image_case(tmp_path, gt, segments, pred)
    assert ours['s0_TP'] == 1 and ours['s0_SQ'] == pytest.approx(60.0)
    _assert_equal_to_reference(ours, reference)


def test_json_area_that_differs_from_the_png_warns_once(tmp_path):
    """panopticapi takes the JSON area (IoU 6 / 7 here, 8 / 8 in the
    PNG); the metric does too, names the image and both numbers once, and
    counts the PNG with gt_areas='png'."""
    gt = np.zeros((4, 4), np.int64)
    gt[:2] = 5  # 8 pixels
    segments = [dict(id=5, category_id=8, iscrowd=0, area=7)]
    pred = np.full((4, 4), NUM_CLASSES, np.int64)
    pred[:2, :3] = NUM_THINGS  # 6 on the segment
    gt_json, pred_json = write_case(str(tmp_path), 'area',
                                    [(0, gt, segments, pred),
                                     (1, gt, segments, pred)])
    metric = _metric(gt_json)
    with pytest.warns(UserWarning) as record:
        ours = _evaluate(metric, [_sample(0, pred), _sample(1, pred)])
    messages = [str(w.message) for w in record]
    assert len(messages) == 1  # once, not per image
    assert 'GT segment 5 of' in messages[0] and '000000.png' in messages[0]
    assert '"area" 7' in messages[0] and '8 pixels' in messages[0]
    _assert_equal_to_reference(ours, reference_pq(gt_json, pred_json))
    assert ours['s0_SQ'] == pytest.approx(100 * 6 / 7)

    exact = _evaluate(_metric(gt_json, gt_areas='png'),
                      [_sample(0, pred), _sample(1, pred)])
    assert exact['s0_SQ'] == pytest.approx(100 * 6 / 8)
    with pytest.raises(ValueError, match='gt_areas'):
        PanopticMetric(ann_file=gt_json, gt_areas='pixels')


def test_semantic_miou_matches_brute_force(tmp_path):
    rng = np.random.default_rng(1)
    images, samples, confusion = [], [], np.zeros((NUM_CLASSES, ) * 2, int)
    for image_id in range(5):
        gt_map, segments = random_ground_truth(rng, 24, 30)
        pred = random_prediction(rng, gt_map, segments)
        sem = rng.integers(0, NUM_CLASSES, gt_map.shape)
        images.append((image_id, gt_map, segments, pred))
        samples.append(_sample(image_id, pred, sem))
        cat_to_label = {c['id']: i for i, c in enumerate(CATEGORIES)}
        for s in segments:  # crowd keeps its class; VOID/unknown ignored
            for y, x in zip(*np.nonzero(gt_map == s['id'])):
                confusion[cat_to_label[s['category_id']], sem[y, x]] += 1
    gt_json, _ = write_case(str(tmp_path), 'sem', images)
    ours = _evaluate(_metric(gt_json), samples)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    iou = intersection[union > 0] / union[union > 0]
    assert ours['mIoU'] == pytest.approx(100 * iou.mean(), rel=1e-12)
    assert ours['t0_IoU'] == pytest.approx(
        100 * intersection[0] / union[0], rel=1e-12)


def test_format_only_writes_a_submission_panopticapi_scores_the_same(tmp_path):
    rng = np.random.default_rng(5)
    images = []
    for image_id in range(4):
        gt_map, segments = random_ground_truth(rng, 20, 28)
        images.append((image_id, gt_map, segments,
                       random_prediction(rng, gt_map, segments)))
    gt_json, _ = write_case(str(tmp_path), 'fmt', images)
    prefix = str(tmp_path / 'submission')
    # as for test-dev: an image-info file (categories, no annotations)
    info_json = str(tmp_path / 'image_info.json')
    with open(info_json, 'w') as f:
        gt = json.load(open(gt_json))
        json.dump(dict(images=gt['images'], categories=gt['categories']), f)
    writer = _metric(info_json, format_only=True, outfile_prefix=prefix)
    assert _evaluate(writer, [_sample(i, p) for i, _, _, p in images]) == {}
    submission = json.load(open(prefix + '.panoptic.json'))
    used = {
        s['category_id']
        for a in submission['annotations']
        for s in a['segments_info']
    }
    assert used <= {c['id'] for c in CATEGORIES}  # dataset category ids
    # panopticapi on the written files == the in-memory metric
    assert [a['file_name'] for a in submission['annotations']
            ] == [f'{i:06d}.png' for i in range(4)]
    shutil.move(prefix + '.panoptic', prefix + '_pred')
    with open(prefix + '_pred.json', 'w') as f:
        json.dump(submission, f)
    reference = reference_pq(gt_json, prefix + '_pred.json')
    ours = _evaluate(
        _metric(gt_json), [_sample(i, p) for i, _, _, p in images])
    _assert_equal_to_reference(ours, reference)


def test_distributed_collection_drops_sampler_padding(tmp_path, monkeypatch):
    """5 images on 2 ranks: DefaultSampler pads rank 1 with image 0; the
    real mmengine collection (cpu, via collect_dir) must count it once."""
    import mmengine.dist.dist as mm_dist
    import mmengine.evaluator.metric as mm_metric
    from mmengine.dataset import DefaultSampler
    rng = np.random.default_rng(7)
    images = []
    for image_id in range(5):
        gt_map, segments = random_ground_truth(rng, 20, 24)
        images.append((image_id, gt_map, segments,
                       random_prediction(rng, gt_map, segments)))
    gt_json, pred_json = write_case(str(tmp_path), 'dist', images)

    class _Dataset:

        def __len__(self):
            return len(images)

    ranks = []
    for rank in range(2):
        monkeypatch.setattr(
            'mmengine.dataset.sampler.get_dist_info',
            lambda rank=rank: (rank, 2))
        indices = list(iter(DefaultSampler(_Dataset(), shuffle=False)))
        metric = _metric(gt_json, collect_dir=str(tmp_path / 'collect'))
        for i in indices:
            metric.process({}, [_sample(*images[i][:1], images[i][3])])
        ranks.append((indices, metric))
    assert ranks[1][0] == [1, 3, 0]  # padded with a duplicate of image 0
    (tmp_path / 'collect').mkdir()
    with open(tmp_path / 'collect' / 'part_1.pkl', 'wb') as f:
        pickle.dump(ranks[1][1].results, f)
    monkeypatch.setattr(mm_dist, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setattr(mm_dist, 'barrier', lambda: None)
    monkeypatch.setattr(mm_metric, 'is_main_process', lambda: True)
    monkeypatch.setattr(mm_metric, 'broadcast_object_list', lambda x: None)
    ours = ranks[0][1].evaluate(size=len(images))
    ours = {k.split('/', 1)[1]: v for k, v in ours.items()}
    _assert_equal_to_reference(ours, reference_pq(gt_json, pred_json))


def test_results_are_small_per_image(tmp_path):
    """No per-image arrays are retained: a 240x320 image leaves a few
    numbers per class it touches."""
    rng = np.random.default_rng(3)
    gt_map, segments = random_ground_truth(rng, 240, 320)
    pred = random_prediction(rng, gt_map, segments)
    gt_json, _ = write_case(
        str(tmp_path), 'mem', [(0, gt_map, segments, pred)])
    metric = _metric(gt_json)
    sem = np.zeros_like(pred)
    metric.process({}, [_sample(0, pred, sem)])
    size = len(pickle.dumps(metric.results))
    assert size < 1200, size  # tens of bytes per class touched


def test_registered_and_mmdet_compatible_keys(tmp_path):
    init_default_scope('mmpanoptic')
    rng = np.random.default_rng(0)
    gt_map, segments = random_ground_truth(rng, 16, 16)
    gt_json, _ = write_case(
        str(tmp_path), 'reg', [(0, gt_map, segments, gt_map * 0 + 8)])
    metric = METRICS.build(
        dict(type='PanopticMetric', ann_file=gt_json, seg_prefix=gt_json[:-5]))
    metric.dataset_meta = METAINFO
    metric.process({}, [_sample(0, np.full((16, 16), NUM_CLASSES))])
    metrics = metric.evaluate(1)
    assert {
        'coco_panoptic/PQ', 'coco_panoptic/PQ_th', 'coco_panoptic/PQ_st',
        'coco_panoptic/SQ', 'coco_panoptic/RQ'
    } <= set(metrics)


def test_clear_errors(tmp_path):
    rng = np.random.default_rng(0)
    gt_map, segments = random_ground_truth(rng, 16, 16)
    gt_json, _ = write_case(
        str(tmp_path), 'err',
        [(0, gt_map, segments, gt_map * 0 + NUM_CLASSES)])
    metric = PanopticMetric(ann_file=gt_json, seg_prefix=gt_json[:-5])
    stuff_first = dict(
        classes=METAINFO['stuff_classes'] + METAINFO['thing_classes'],
        thing_classes=METAINFO['thing_classes'],
        stuff_classes=METAINFO['stuff_classes'])
    with pytest.raises(ValueError, match='things first'):
        metric.dataset_meta = stuff_first
    renamed = dict(
        METAINFO,
        classes=('x', ) + METAINFO['classes'][1:],
        thing_classes=('x', ) + METAINFO['thing_classes'][1:])
    with pytest.raises(ValueError, match=r"not in the file \['x'\]"):
        metric.dataset_meta = renamed
    swapped = dict(
        classes=('s0', ) + METAINFO['classes'][1:4] + ('t0', ) +
        METAINFO['classes'][5:],
        thing_classes=('s0', ) + METAINFO['thing_classes'][1:],
        stuff_classes=('t0', ) + METAINFO['stuff_classes'][1:])
    with pytest.raises(ValueError, match='isthing'):
        metric.dataset_meta = swapped
    metric.dataset_meta = METAINFO
    with pytest.raises(ValueError, match='labels'):
        metric.process({}, [_sample(0, np.full((16, 16), 9 + 1000))])
    with pytest.raises(ValueError, match='shape'):
        metric.process({}, [_sample(0, np.zeros((8, 16), np.int64))])
    with pytest.raises(ValueError, match=r'Image 0 .*negative value \(-3\)'):
        metric.process({}, [_sample(0, np.full((16, 16), -3))])
    with pytest.raises(ValueError, match='image 0 has negative values'):
        metric.process({}, [
            _sample(0, np.full((16, 16), -3), np.zeros((16, 16), np.int64))
        ])
    with pytest.raises(ValueError, match='pred_sem_seg'):
        metric.process({}, [
            _sample(0, np.zeros(
                (16, 16), np.int64), np.full((16, 16), NUM_CLASSES))
        ])
    with pytest.raises(KeyError, match='not in the annotations'):
        metric.process({}, [_sample(5, np.zeros((16, 16), np.int64))])
    with pytest.raises(ValueError, match='outfile_prefix'):
        PanopticMetric(ann_file=gt_json, format_only=True)


def test_png_decoding_matches_panopticapi_rgb2id(tmp_path):
    ids = np.random.default_rng(0).integers(0, 256**3, (7, 9))
    path = str(tmp_path / 'ids.png')
    cv2.imwrite(path, id2rgb(ids)[..., ::-1])
    with open(path, 'rb') as f:
        decoded = decode_panoptic_png(f.read())
    from panopticapi.utils import rgb2id as panopticapi_rgb2id
    from PIL import Image
    np.testing.assert_array_equal(decoded, ids)
    np.testing.assert_array_equal(
        panopticapi_rgb2id(np.array(Image.open(path), np.uint32)), ids)
    np.testing.assert_array_equal(rgb2id(id2rgb(ids)), ids)


# ------------------------------------------------ real COCO panoptic images
def _coco_sample():
    root = osp.abspath(COCO_SAMPLE)
    # CI runs with shared/ beside the checkout: a missing sample is a
    # failure, not a reason to skip
    assert osp.isdir(root), f'shared COCO panoptic sample missing: {root}'
    gt = json.load(open(osp.join(root, 'panoptic_examples.json')))
    categories = gt['categories']
    things = tuple(c['name'] for c in categories if c['isthing'])
    stuff = tuple(c['name'] for c in categories if not c['isthing'])
    meta = dict(
        classes=things + stuff, thing_classes=things, stuff_classes=stuff)
    return root, gt, meta


def test_coco_sample_gt_against_itself_is_perfect():
    root, gt, meta = _coco_sample()
    metric = PanopticMetric(
        ann_file=osp.join(root, 'panoptic_examples.json'),
        seg_prefix=osp.join(root, 'panoptic_examples'))
    metric.dataset_meta = meta
    cat_to_label = {
        c['id']: meta['classes'].index(c['name'])
        for c in gt['categories']
    }
    for annotation in gt['annotations']:
        with open(
                osp.join(root, 'panoptic_examples', annotation['file_name']),
                'rb') as f:
            ids = decode_panoptic_png(f.read())
        pred = np.full(ids.shape, len(meta['classes']), np.int64)
        for k, s in enumerate(annotation['segments_info']):
            pred[ids == s['id']] = cat_to_label[s['category_id']] + \
                (k + 1) * INSTANCE_OFFSET
        metric.process({}, [
            dict(
                img_id=annotation['image_id'],
                pred_panoptic_seg=dict(sem_seg=pred[None]))
        ])
    result = metric.compute_metrics(metric.results)
    for key in ('PQ', 'SQ', 'RQ', 'PQ_th', 'PQ_st'):
        assert result[key] == pytest.approx(100.0, abs=1e-9), key


def test_coco_sample_perturbed_prediction_equals_panopticapi(tmp_path):
    root, gt, meta = _coco_sample()
    rng = np.random.default_rng(11)
    cat_to_label = {
        c['id']: meta['classes'].index(c['name'])
        for c in gt['categories']
    }
    label_to_cat = {v: k for k, v in cat_to_label.items()}
    pred_dir = tmp_path / 'pred'
    pred_dir.mkdir()
    samples, pred_anns = [], []
    for annotation in gt['annotations']:
        with open(
                osp.join(root, 'panoptic_examples', annotation['file_name']),
                'rb') as f:
            ids = decode_panoptic_png(f.read())
        pred = np.full(ids.shape, len(meta['classes']), np.int64)
        shifted = np.roll(
            ids, (int(rng.integers(-6, 7)), int(rng.integers(-6, 7))),
            axis=(0, 1))
        for k, s in enumerate(annotation['segments_info']):
            label = cat_to_label[s['category_id']]
            if rng.random() < 0.15:
                label = int(rng.integers(0, len(meta['classes'])))
            if rng.random() < 0.9:
                pred[shifted == s['id']] = label + (k + 1) * INSTANCE_OFFSET
        pred[rng.integers(0, 100):rng.integers(150, 300), 50:200] = 7
        samples.append(
            dict(
                img_id=annotation['image_id'],
                pred_panoptic_seg=dict(sem_seg=pred[None])))
        values = np.unique(pred)
        segs, pred_ids = [], np.zeros(len(values), np.int64)
        for j, value in enumerate(values):
            if value % INSTANCE_OFFSET == len(meta['classes']):
                continue
            pred_ids[j] = len(segs) + 1
            segs.append(
                dict(
                    id=int(pred_ids[j]),
                    category_id=label_to_cat[value % INSTANCE_OFFSET]))
        cv2.imwrite(
            str(pred_dir / annotation['file_name']),
            id2rgb(pred_ids[np.searchsorted(values, pred)])[..., ::-1])
        pred_anns.append(
            dict(
                image_id=annotation['image_id'],
                file_name=annotation['file_name'],
                segments_info=segs))
    with open(tmp_path / 'pred.json', 'w') as f:
        json.dump(dict(annotations=pred_anns), f)
    gt_json = str(tmp_path / 'gt.json')
    shutil.copy(osp.join(root, 'panoptic_examples.json'), gt_json)
    shutil.copytree(osp.join(root, 'panoptic_examples'), gt_json[:-5])
    reference = reference_pq(gt_json, str(tmp_path / 'pred.json'))
    ours = _evaluate(_metric(gt_json, meta), samples)
    _assert_equal_to_reference(ours, reference, gt['categories'])
    assert 0 < ours['PQ'] < 100


def test_drop_in_for_mmdet_coco_panoptic_metric(tiny_synthetic):
    """Same arguments and the same numbers as mmdet's CocoPanopticMetric on
    the synthetic val split (predictions: perturbed GT)."""
    from mmdet.evaluation import CocoPanopticMetric
    from mmpanoptic.datasets import SYNTHETIC_METAINFO
    root = tiny_synthetic['root']
    ann_file = osp.join(root, 'annotations', 'panoptic_val.json')
    seg_prefix = osp.join(root, 'annotations', 'panoptic_val')
    coco = json.load(open(ann_file))
    names = SYNTHETIC_METAINFO['classes']
    cat_to_label = {
        c['id']: names.index(c['name'])
        for c in coco['categories']
    }
    rng = np.random.default_rng(4)
    samples = []
    for image, annotation in zip(coco['images'], coco['annotations']):
        with open(osp.join(seg_prefix, annotation['file_name']), 'rb') as f:
            ids = decode_panoptic_png(f.read())
        pred = np.full(ids.shape, len(names), np.int64)
        shifted = np.roll(ids, (1, -2), axis=(0, 1))
        for k, s in enumerate(annotation['segments_info']):
            if rng.random() < 0.2:
                continue
            label = cat_to_label[s['category_id']]
            if rng.random() < 0.1:
                label = int(rng.integers(0, len(names)))
            pred[shifted == s['id']] = label + (k + 1) * INSTANCE_OFFSET
        samples.append(
            dict(
                img_id=image['id'],
                img_path=image['file_name'],
                ori_shape=ids.shape,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None]))))
    results = []
    for metric_type in (CocoPanopticMetric, PanopticMetric):
        metric = metric_type(ann_file=ann_file, seg_prefix=seg_prefix)
        metric.dataset_meta = SYNTHETIC_METAINFO
        for sample in samples:
            # mmdet's metric writes VOID = 0 into the prediction in place
            metric.process({}, [copy.deepcopy(sample)])
        results.append(metric.evaluate(len(samples)))
    assert set(results[0]) <= set(results[1])
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-12), key
    assert 0 < results[1]['coco_panoptic/PQ'] < 100


def test_without_ann_file_uses_dataset_segments_as_mmdet(tiny_synthetic):
    """mmdet's fallback (no ann_file): GT segments from the dataset, areas
    counted in the PNG, crowd = thing class flagged not is_thing."""
    from mmdet.evaluation import CocoPanopticMetric
    from mmpanoptic.datasets import (SYNTHETIC_METAINFO,
                                     SyntheticPanopticDataset)
    root = tiny_synthetic['root']
    dataset = SyntheticPanopticDataset(
        data_root=root,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        test_mode=True)
    rng = np.random.default_rng(9)
    samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        with open(info['seg_map_path'], 'rb') as f:
            ids = decode_panoptic_png(f.read())
        pred = np.full(ids.shape, len(SYNTHETIC_METAINFO['classes']), np.int64)
        for k, s in enumerate(info['segments_info']):
            if rng.random() < 0.8:
                pred[np.roll(ids, (0, 1), axis=(0, 1)) == s['id']] = \
                    s['category'] + (k + 1) * INSTANCE_OFFSET
        samples.append(
            dict(
                img_id=info['img_id'],
                img_path=info['img_path'],
                seg_map_path=info['seg_map_path'],
                segments_info=info['segments_info'],
                ori_shape=ids.shape,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pred[None]))))
    results = []
    for metric_type in (CocoPanopticMetric, PanopticMetric):
        metric = metric_type(
            seg_prefix=osp.join(root, 'annotations', 'panoptic_val'))
        metric.dataset_meta = SYNTHETIC_METAINFO
        for sample in samples:
            metric.process({}, [copy.deepcopy(sample)])
        results.append(metric.evaluate(len(samples)))
    for key, value in results[0].items():
        assert results[1][key] == pytest.approx(value, rel=1e-12), key
    assert 0 < results[1]['coco_panoptic/PQ'] < 100


def test_many_segments_and_huge_instance_ids(tmp_path):
    """400 GT segments (the 16-bit lookup table) and predicted instance ids
    too large for a value table (the sorting path) still equal
    panopticapi."""
    from mmpanoptic.evaluation import (GroundTruthSegments, SegmentIdIndexer,
                                       pq_stats_single_image)
    rng = np.random.default_rng(12)
    blocks = np.arange(400).reshape(20, 20)
    gt_index = np.kron(blocks, np.ones((4, 4), np.int64))  # 80 x 80
    ids = rng.choice(256**3 - 1, 400, replace=False) + 1
    labels = rng.integers(0, NUM_CLASSES, 400)
    gt_map = ids[gt_index]
    segments = [
        dict(
            id=int(ids[k]),
            category_id=CATEGORIES[labels[k]]['id'],
            iscrowd=int(labels[k] < NUM_THINGS and rng.random() < 0.1),
            area=16) for k in range(400)
    ]
    shifted = np.roll(gt_index, (1, 0), axis=(0, 1))
    relabel = np.where(
        rng.random(400) < 0.2, rng.integers(0, NUM_CLASSES, 400), labels)
    pred = relabel[shifted] + (shifted + 1) * INSTANCE_OFFSET
    gt_json, pred_json = write_case(
        str(tmp_path), 'many', [(0, gt_map, segments, pred)])
    reference = reference_pq(gt_json, pred_json)
    _assert_equal_to_reference(
        _evaluate(_metric(gt_json), [_sample(0, pred)]), reference)
    # the same prediction with instance ids ~10^9: same counts
    gt = GroundTruthSegments(ids, labels, np.full(400, 16),
                             np.array([s['iscrowd'] for s in segments], bool))
    rows = SegmentIdIndexer().rows(gt_map.astype(np.uint32), ids)
    assert rows.dtype == np.uint16
    small = pq_stats_single_image(rows, gt, pred, NUM_CLASSES)
    huge = pq_stats_single_image(rows, gt, pred + 10**6 * INSTANCE_OFFSET,
                                 NUM_CLASSES)
    for a, b in zip(small, huge):
        np.testing.assert_array_equal(a, b)
    assert small.tp.sum() > 0 and small.fp.sum() > 0
