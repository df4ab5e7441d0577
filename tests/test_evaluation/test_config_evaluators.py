"""The evaluator lists of the COCO and Cityscapes dataset bases run side by
side on the same data samples (PanopticMetric, mmdet's CocoMetric and
CityScapesMetric) and give known answers: the ground truth scored as its
own prediction, and the same with one class left out."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from mmpanoptic.datasets import CocoPanopticDataset
from mmpanoptic.datasets.cityscapes_panoptic import \
    CITYSCAPES_PANOPTIC_METAINFO
from mmpanoptic.evaluation import INSTANCE_OFFSET, decode_panoptic_png
from mmpanoptic.utils import register_all_modules

from ..conftest import REPO_ROOT, load_script
from ..test_datasets.test_cityscapes_panoptic import (CONVERTER,
                                                      write_fake_gtfine)

register_all_modules()
CONVERTER_MODULE = load_script(CONVERTER)
COCO_SAMPLE = osp.join(REPO_ROOT, '..', 'shared', 'data',
                       'coco_panoptic_sample')


def _config_evaluators(config: str, old_root: str, new_root: str) -> list:
    """``test_evaluator`` of a config, its paths moved to ``new_root``."""
    evaluators = Config.fromfile(osp.join(REPO_ROOT,
                                          config)).to_dict()['test_evaluator']
    for evaluator in evaluators:
        for key, value in evaluator.items():
            if isinstance(value, str) and value.startswith(old_root):
                evaluator[key] = osp.join(new_root, value[len(old_root):])
    return evaluators


def _instances_json(panoptic_json: str, seg_dir: str, out_file: str) -> None:
    """COCO instances JSON (things, RLE masks, crowd) of a COCO panoptic
    JSON, on the same image ids: the stand-in for instances_val2017.json."""
    coco = json.load(open(panoptic_json))
    thing_ids = [c['id'] for c in coco['categories'] if c['isthing']]
    annotations = []
    for annotation in coco['annotations']:
        ids = _read_ids(osp.join(seg_dir, annotation['file_name']))
        for instance in CONVERTER_MODULE.instance_annotations(
                ids, annotation['segments_info'], thing_ids):
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=annotation['image_id'],
                    **instance))
    json.dump(
        dict(
            images=coco['images'],
            annotations=annotations,
            categories=[
                dict(id=c['id'], name=c['name']) for c in coco['categories']
                if c['isthing']
            ]), open(out_file, 'w'))


def _read_ids(path: str) -> np.ndarray:
    with open(path, 'rb') as f:
        return decode_panoptic_png(f.read())


def _ground_truth_as_prediction(panoptic_json: str,
                                seg_dir: str,
                                classes: tuple,
                                num_things: int,
                                img_path=None,
                                dropped_label=None,
                                with_masks=True) -> list:
    """Data samples whose predictions are the ground truth: panoptic ids,
    semantic labels, and every non-crowd thing as a detection with score 1
    (``dropped_label``: that class predicted nowhere)."""
    coco = json.load(open(panoptic_json))
    cat_to_label = {
        c['id']: classes.index(c['name'])
        for c in coco['categories']
    }
    images = {image['id']: image for image in coco['images']}
    samples = []
    for annotation in coco['annotations']:
        ids = _read_ids(osp.join(seg_dir, annotation['file_name']))
        pan = np.full(ids.shape, len(classes), np.int64)
        sem = np.zeros(ids.shape, np.int64)
        boxes, labels, masks = [], [], []
        for k, segment in enumerate(annotation['segments_info']):
            label = cat_to_label[segment['category_id']]
            region = ids == segment['id']
            sem[region] = label
            if label == dropped_label:
                continue
            pan[region] = label + (k + 1) * INSTANCE_OFFSET
            if label < num_things and not segment['iscrowd']:
                x, y, w, h = segment['bbox']
                boxes.append([x, y, x + w, y + h])
                labels.append(label)
                masks.append(region)
        instances = dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.ones(len(labels)),
            labels=torch.tensor(labels, dtype=torch.int64))
        if with_masks:
            instances['masks'] = torch.from_numpy(
                np.stack(masks) if masks else np.zeros((0, ) +
                                                       ids.shape, bool))
        image = images[annotation['image_id']]
        samples.append(
            dict(
                img_id=image['id'],
                img_path=img_path(image) if img_path else image['file_name'],
                ori_shape=ids.shape,
                pred_panoptic_seg=dict(sem_seg=torch.from_numpy(pan[None])),
                pred_sem_seg=dict(sem_seg=torch.from_numpy(sem[None])),
                pred_instances=instances))
    return samples


def _evaluate(evaluators: list, metainfo: dict, samples: list) -> dict:
    init_default_scope('mmpanoptic')
    evaluator = Evaluator(copy.deepcopy(evaluators))
    evaluator.dataset_meta = metainfo
    evaluator.process(copy.deepcopy(samples))
    return evaluator.evaluate(len(samples))


def _counted_classes(panoptic_json: str, classes: tuple, num_things: int):
    """Classes with non-crowd GT segments (those PQ averages over), and the
    thing classes among them (those COCO AP averages over)."""
    coco = json.load(open(panoptic_json))
    names = {c['id']: c['name'] for c in coco['categories']}
    labels = {
        classes.index(names[s['category_id']])
        for a in coco['annotations']
        for s in a['segments_info'] if not s['iscrowd']
    }
    return labels, {label for label in labels if label < num_things}


@pytest.fixture(scope='module')
def coco_sample(tmp_path_factory):
    """The shared real COCO panoptic images with an instances JSON made
    from them (real COCO category ids and names)."""
    root = osp.abspath(COCO_SAMPLE)
    # CI runs with shared/ beside the checkout: a missing sample is a
    # failure, not a reason to skip
    assert osp.isdir(root), f'shared COCO panoptic sample missing: {root}'
    panoptic_json = osp.join(root, 'panoptic_examples.json')
    seg_dir = osp.join(root, 'panoptic_examples')
    instances_json = str(tmp_path_factory.mktemp('coco') / 'instances.json')
    _instances_json(panoptic_json, seg_dir, instances_json)
    evaluators = _config_evaluators('configs/_base_/datasets/coco_panoptic.py',
                                    'data/coco/', root)
    by_type = {e['type']: e for e in evaluators}
    by_type['PanopticMetric'].update(
        ann_file=panoptic_json, seg_prefix=seg_dir)
    by_type['CocoMetric'].update(ann_file=instances_json)
    return evaluators, panoptic_json, seg_dir, instances_json


def test_coco_base_scores_pq_miou_box_and_mask_ap_in_one_run(coco_sample):
    """COCO base: PanopticMetric and CocoMetric (bbox, segm) on the real
    COCO classes of CocoPanopticDataset: the GT as its own prediction is
    perfect, and without persons PQ and both APs lose exactly one of the
    classes they average over."""
    evaluators, panoptic_json, seg_dir, _ = coco_sample
    assert [e['type'] for e in evaluators] == ['PanopticMetric', 'CocoMetric']
    assert evaluators[1]['metric'] == ['bbox', 'segm']
    meta = CocoPanopticDataset.METAINFO
    num_things = len(meta['thing_classes'])
    perfect = _evaluate(
        evaluators, meta,
        _ground_truth_as_prediction(panoptic_json, seg_dir, meta['classes'],
                                    num_things))
    for key in ('PQ', 'SQ', 'RQ', 'PQ_th', 'PQ_st', 'mIoU'):
        assert perfect[f'coco_panoptic/{key}'] == pytest.approx(100.0), key
    assert perfect['coco/bbox_mAP'] == pytest.approx(1.0)
    assert perfect['coco/segm_mAP'] == pytest.approx(1.0)

    counted, counted_things = _counted_classes(panoptic_json, meta['classes'],
                                               num_things)
    person = meta['classes'].index('person')
    assert person in counted_things and len(counted_things) > 1
    without_person = _evaluate(
        evaluators, meta,
        _ground_truth_as_prediction(
            panoptic_json,
            seg_dir,
            meta['classes'],
            num_things,
            dropped_label=person))
    assert without_person['coco_panoptic/PQ'] == pytest.approx(
        100.0 * (len(counted) - 1) / len(counted))
    assert without_person['coco_panoptic/mIoU'] == pytest.approx(100.0)
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert without_person[key] == pytest.approx(
            (len(counted_things) - 1) / len(counted_things), abs=1e-3), key


def test_coco_real_category_order_for_coco_metric():
    """CocoMetric maps label i to the i-th category of the instances file
    whose name is in the dataset classes; COCO's instances_val2017.json
    lists mmdet's CocoDataset classes in that order, so the thing classes
    of our COCO panoptic dataset must be exactly those, in order."""
    from mmdet.datasets import CocoDataset
    meta = CocoPanopticDataset.METAINFO
    assert meta['thing_classes'] == CocoDataset.METAINFO['classes']
    assert meta['classes'][:len(meta['thing_classes'])] == \
        meta['thing_classes']
    assert not set(meta['stuff_classes']) & set(meta['thing_classes'])


def test_coco_test_dev_submission_side_by_side(coco_sample, tmp_path):
    """format_only with one outfile_prefix for both metrics (the test-dev
    block of the COCO base): the panoptic PNGs and JSON and the detection
    JSONs are all written, none overwrites another, nothing is scored."""
    evaluators, panoptic_json, seg_dir, _ = coco_sample
    prefix = str(tmp_path / 'test')
    for evaluator in evaluators:
        evaluator.update(format_only=True, outfile_prefix=prefix)
    meta = CocoPanopticDataset.METAINFO
    samples = _ground_truth_as_prediction(panoptic_json, seg_dir,
                                          meta['classes'],
                                          len(meta['thing_classes']))
    assert _evaluate(evaluators, meta, samples) == {}
    panoptic = json.load(open(prefix + '.panoptic.json'))
    assert len(panoptic['annotations']) == len(samples)
    for annotation in panoptic['annotations']:
        assert osp.isfile(
            osp.join(prefix + '.panoptic', annotation['file_name']))
    detections = sum(len(s['pred_instances']['labels']) for s in samples)
    for kind in ('bbox', 'segm'):
        results = json.load(open(f'{prefix}.{kind}.json'))
        assert len(results) == detections
    # labels went out as real COCO category ids (person = 1)
    first = samples[0]['pred_instances']
    person = meta['classes'].index('person')
    results = json.load(open(f'{prefix}.bbox.json'))
    assert sum(r['category_id'] == 1 for r in results
               if r['image_id'] == samples[0]['img_id']) == int(
                   (first['labels'] == person).sum())


# ---------------------------------------------------------------- Cityscapes
ROAD, BUILDING, SKY, PERSON, CAR, BICYCLE = 7, 11, 23, 24, 26, 33
EGO_VEHICLE = 1


def _street() -> np.ndarray:
    """(64, 128) instanceIds whose instances are over Cityscapes' 100-pixel
    evaluation minimum: two cars, a person, a bicycle, a car group (crowd)
    and VOID."""
    ids = np.full((64, 128), ROAD, np.int64)
    ids[:16] = SKY
    ids[16:32, :64] = BUILDING
    ids[20:44, 10:30] = CAR * 1000
    ids[30:60, 40:50] = PERSON * 1000 + 1
    ids[40:60, 70:100] = CAR * 1000 + 2
    ids[30:50, 104:116] = BICYCLE * 1000 + 3
    ids[54:62, 104:124] = CAR  # group
    ids[60:, :20] = EGO_VEHICLE
    return ids


@pytest.fixture(scope='module')
def fake_cityscapes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    write_fake_gtfine(
        root, {
            ('val', 'aachen', 'aachen_000000_000019'): _street(),
            ('val', 'bochum', 'bochum_000000_000313'): np.fliplr(_street()),
        })
    CONVERTER_MODULE.convert_split(root, 'val', osp.join(root, 'gtFine'))
    return root


def _cityscapes_samples(root, **kwargs):
    meta = CITYSCAPES_PANOPTIC_METAINFO
    return _ground_truth_as_prediction(
        osp.join(root, 'gtFine', 'cityscapes_panoptic_val.json'),
        osp.join(root, 'gtFine', 'cityscapes_panoptic_val'),
        meta['classes'],
        len(meta['thing_classes']),
        img_path=lambda image: osp.join(root, 'leftImg8bit', 'val', image[
            'file_name']),
        **kwargs)


def test_cityscapes_base_scores_pq_coco_ap_and_cityscapes_ap(fake_cityscapes):
    """Cityscapes base: PanopticMetric, CocoMetric on the converter's
    instances JSON and CityScapesMetric (cityscapesscripts on the gtFine
    instanceIds) side by side: the GT as its own prediction is perfect in
    all three."""
    root = fake_cityscapes
    evaluators = _config_evaluators(
        'configs/_base_/datasets/cityscapes_panoptic.py', 'data/cityscapes/',
        root)
    assert [e['type'] for e in evaluators
            ] == ['PanopticMetric', 'CocoMetric', 'CityScapesMetric']
    result = _evaluate(evaluators, CITYSCAPES_PANOPTIC_METAINFO,
                       _cityscapes_samples(root))
    for key in ('PQ', 'PQ_th', 'PQ_st', 'mIoU'):
        assert result[f'coco_panoptic/{key}'] == pytest.approx(100.0), key
    assert result['coco/bbox_mAP'] == pytest.approx(1.0)
    assert result['coco/segm_mAP'] == pytest.approx(1.0)
    assert result['cityscapes/mAP'] == pytest.approx(1.0)
    assert result['cityscapes/AP@50'] == pytest.approx(1.0)


def test_cityscapes_without_masks_box_ap_only(fake_cityscapes):
    """The Faster R-CNN (no mask) Unifying configs: PQ, mIoU and box AP
    from detections without masks, no mask metric."""
    root = fake_cityscapes
    evaluators = _config_evaluators(
        'configs/unifying/unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py',
        'data/cityscapes/', root)
    samples = _cityscapes_samples(root, with_masks=False)
    assert 'masks' not in samples[0]['pred_instances']
    result = _evaluate(evaluators, CITYSCAPES_PANOPTIC_METAINFO, samples)
    assert result['coco_panoptic/PQ'] == pytest.approx(100.0)
    assert result['coco/bbox_mAP'] == pytest.approx(1.0)
    assert not any('segm' in key or key.startswith('cityscapes/')
                   for key in result)


# ------------------------------------------- real model outputs in the list
# Models whose predict already returns pred_instances with masks (UPSNet
# with its with_instance_masks option). Random weights; low score cut-offs
# so that there are detections to score.
MODEL_CONFIGS = {
    'configs/unifying/unifying_r18_fpn_1xb4-800i_synthetic.py': {},
    'configs/panoptic_fcn/panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py': {},
    'configs/upsnet/upsnet_r18_fpn_1xb4-800i_synthetic.py': {
        'model.test_cfg.rcnn.score_thr': 0.05,
        'model.test_cfg.panoptic.with_instance_masks': True
    },
}


@pytest.mark.parametrize('config', sorted(MODEL_CONFIGS))
def test_model_predictions_fit_the_coco_evaluators(config, tiny_synthetic,
                                                   tmp_path, one_thread):
    """A model's own data samples go through the COCO base's evaluator
    list: pred_instances masks at the original size, every metric
    reported."""
    from mmengine.dataset import pseudo_collate

    from mmpanoptic.datasets import SYNTHETIC_METAINFO
    from mmpanoptic.registry import DATASETS, MODELS
    root = tiny_synthetic['root']
    panoptic_json = osp.join(root, 'annotations', 'panoptic_val.json')
    seg_dir = osp.join(root, 'annotations', 'panoptic_val')
    instances_json = str(tmp_path / 'instances.json')
    _instances_json(panoptic_json, seg_dir, instances_json)
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    cfg.merge_from_dict(MODEL_CONFIGS[config])
    init_default_scope('mmpanoptic')
    model = MODELS.build(cfg.model).eval()
    dataset = DATASETS.build(
        dict(
            cfg.test_dataloader.dataset,
            data_root=root,
            generator=tiny_synthetic['generator']))
    with torch.no_grad():
        samples = model.test_step(pseudo_collate([dataset[0], dataset[1]]))
    for sample in samples:
        assert tuple(sample.pred_instances.masks.shape[1:]) == \
            tuple(sample.ori_shape)
    assert sum(len(s.pred_instances) for s in samples) > 0

    evaluators = _config_evaluators('configs/_base_/datasets/coco_panoptic.py',
                                    'data/coco/', root)
    evaluators[0].update(ann_file=panoptic_json, seg_prefix=seg_dir)
    evaluators[1].update(ann_file=instances_json)
    result = _evaluate(evaluators, SYNTHETIC_METAINFO,
                       [s.to_dict() for s in samples])
    for key in ('coco_panoptic/PQ', 'coco_panoptic/mIoU'):
        assert 0 <= result[key] <= 100, key
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert 0 <= result[key] <= 1, key
