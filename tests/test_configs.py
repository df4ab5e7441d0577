"""Every config in configs/ builds (model, datasets and evaluators from its
dicts, without data files) and fits what the papers and docs say:

* datasets are mmpanoptic's validated ones (and their pipelines load
  panoptic annotations with mmpanoptic's transform);
* the model's class counts are the dataset's;
* COCO and Cityscapes configs evaluate PQ with PanopticMetric first, box
  and mask AP with mmdet's CocoMetric (mask AP only for models with masks),
  and Cityscapes' instance AP with CityScapesMetric;
* Cityscapes training crops are 512 high and 1024 wide, run through mmdet's
  RandomCrop itself (it reads ``crop_size`` as (width, height));
* names follow mmdet's convention,
  ``{algorithm}_{backbone}_{neck}_{gpus}xb{batch}-{schedule}_{dataset}.py``,
  and say what the config sets: batch per GPU, GPUs (the base batch of
  ``auto_scale_lr`` over the per-GPU batch) and the schedule (``1x``,
  ``2x``, ``3x`` or ``{n}e`` for epochs, ``{n}k`` or ``{n}i`` for
  iterations);
* the configs docs/train_test.md names for ``--tta`` run one TTA predict on
  a tiny synthetic image; every other config refuses ``--tta``.
"""
import copy
import functools
import glob
import json
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmdet.models.detectors import PanopticFPN
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope

from mmpanoptic.datasets import (CityscapesPanopticDataset,
                                 CocoPanopticDataset, LoadPanopticAnnotations)
from mmpanoptic.evaluation import INSTANCE_OFFSET, PanopticMetric
from mmpanoptic.registry import DATASETS, MODELS, TRANSFORMS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.tta import use_tta

from .conftest import REPO_ROOT

register_all_modules()

CONFIGS = sorted(
    path for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
    if '_base_' not in path)
# The configs docs/train_test.md says `--tta` works for: the papers that
# report multi-scale testing (UPSNet-M on COCO and Cityscapes; AUNet's final
# COCO results, whose Table 1 ablation configs inherit it) and the synthetic
# UPSNet and AUNet configs.
TTA_CONFIGS = {
    'upsnet-m_r50_fpn_8xb2-90k_coco.py',
    'upsnet-m_r50_fpn_8xb2-12k_cityscapes.py',
    'upsnet_r18_fpn_1xb4-800i_synthetic.py',
    'aunet_r50_fpn_8xb2-18e_coco.py',
    'aunet-table1_r50_fpn_8xb2-18e_coco.py',
    'aunet-e2e_r50_fpn_8xb2-18e_coco.py',
    'aunet-pam_r50_fpn_8xb2-18e_coco.py',
    'aunet-pam-r_r50_fpn_8xb2-18e_coco.py',
    'aunet-mam_r50_fpn_8xb2-18e_coco.py',
    'aunet-mam-r_r50_fpn_8xb2-18e_coco.py',
    'aunet-sep_r50_fpn_8xb2-18e_coco.py',
    'aunet_r18_fpn_1xb4-800i_synthetic.py',
}
# UPSNet trains on whole images (multi-scale, short side 800..1024, paper
# 4.2); AUNet, Unifying and Panoptic FCN train on 512 x 1024 crops.
CITYSCAPES_WITHOUT_CROP = {
    'upsnet_r50_fpn_8xb2-12k_cityscapes.py',
    'upsnet-m_r50_fpn_8xb2-12k_cityscapes.py',
    'upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py',
    'upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py'
}
# instance annotations the CocoMetric of each dataset base reads
INSTANCES_JSON = dict(
    coco='annotations/instances_val2017.json',
    cityscapes='gtFine/cityscapes_instances_val.json')


@pytest.fixture(autouse=True)
def _one_torch_thread(one_thread):
    """Every test here builds or runs full-size models on tiny inputs."""


def _name(path: str) -> str:
    return osp.basename(path)


@functools.lru_cache(maxsize=None)
def _parsed(path: str) -> Config:
    return Config.fromfile(path)


def _config(path: str) -> Config:
    """A config, parsed once per session (a fresh copy each call)."""
    return copy.deepcopy(_parsed(path))


def _without_init_cfg(cfg):
    """Set every ``init_cfg`` of a model dict to None: nothing downloaded."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'init_cfg':
                cfg[key] = None
            else:
                _without_init_cfg(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _without_init_cfg(value)
    return cfg


def _build_model(cfg):
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        return MODELS.build(_without_init_cfg(copy.deepcopy(cfg.model)))


def _build_dataset(loader_cfg):
    dataset_cfg = copy.deepcopy(loader_cfg['dataset'])
    while 'dataset' in dataset_cfg:  # dataset wrappers
        dataset_cfg = dataset_cfg['dataset']
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        return DATASETS.build(dict(dataset_cfg, lazy_init=True))


def _kind(dataset) -> str:
    if isinstance(dataset, CityscapesPanopticDataset):
        return 'cityscapes'
    if type(dataset) is CocoPanopticDataset:
        return 'coco'
    return 'synthetic'


def _has_masks(model) -> bool:
    roi_head = getattr(model, 'roi_head', None)
    return roi_head.with_mask if roi_head is not None else True


@pytest.fixture(scope='module')
def stand_in_annotations(tmp_path_factory):
    """Annotation files the evaluators load when built, for a dataset's
    classes: a COCO panoptic JSON (categories things first, one image) and
    a COCO instances JSON (the thing categories)."""
    root = tmp_path_factory.mktemp('annotations')

    def write(metainfo) -> dict:
        things = metainfo['thing_classes']
        categories = [
            dict(id=i + 1, name=name, isthing=int(name in things))
            for i, name in enumerate(metainfo['classes'])
        ]
        image = dict(id=1, file_name='a.jpg', height=4, width=4)
        panoptic = root / f'panoptic_{len(categories)}.json'
        json.dump(
            dict(
                images=[image],
                annotations=[
                    dict(image_id=1, file_name='a.png', segments_info=[])
                ],
                categories=categories), open(panoptic, 'w'))
        instances = root / f'instances_{len(categories)}.json'
        json.dump(
            dict(
                images=[image],
                annotations=[],
                categories=[c for c in categories if c['isthing']]),
            open(instances, 'w'))
        return dict(
            PanopticMetric=str(panoptic),
            ThingErrorMetric=str(panoptic),
            CocoMetric=str(instances))

    return write


def _build_evaluator(evaluator_cfg, dataset, files: dict) -> Evaluator:
    """The evaluator of a config with its annotation files replaced by
    stand-ins; ``dataset_meta`` set, which PanopticMetric checks against
    the annotation categories."""
    metrics = copy.deepcopy(evaluator_cfg)
    for metric in metrics:
        if metric.get('ann_file') is not None:
            metric['ann_file'] = files[metric['type']]
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        evaluator = Evaluator(metrics)
    evaluator.dataset_meta = dataset.metainfo
    return evaluator


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_builds_with_mmpanoptic_data_classes_and_metrics(
        path, stand_in_annotations):
    cfg = _config(path)
    assert cfg.default_scope == 'mmpanoptic'
    model = _build_model(cfg)

    datasets = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = _build_dataset(cfg[loader])
        assert isinstance(dataset, CocoPanopticDataset), (loader, dataset)
        loaders = [
            t for t in dataset.pipeline.transforms
            if 'PanopticAnnotations' in type(t).__name__
        ]
        assert loaders and all(
            isinstance(t, LoadPanopticAnnotations) for t in loaders), loader
        datasets[loader] = dataset
    dataset = datasets['test_dataloader']
    assert len({type(d) for d in datasets.values()}) == 1

    # the model's class counts are the dataset's
    num_things = len(dataset.metainfo['thing_classes'])
    num_stuff = len(dataset.metainfo['stuff_classes'])
    heads = [model] + list(model.children())
    counted = [head for head in heads if hasattr(head, 'num_things_classes')]
    assert counted, 'no head with num_things_classes'
    for head in counted:
        assert (head.num_things_classes,
                head.num_stuff_classes) == (num_things, num_stuff), head
    if getattr(model, 'roi_head', None) is not None:
        assert model.roi_head.bbox_head.num_classes == num_things
        if model.roi_head.with_mask:
            assert model.roi_head.mask_head.num_classes == num_things

    # PQ first; COCO / Cityscapes: box and mask AP, Cityscapes' AP
    kind = _kind(dataset)
    assert (kind == 'cityscapes') == ('cityscapes' in _name(path))
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = _build_evaluator(
            cfg[name] if isinstance(cfg[name], list) else [cfg[name]], dataset,
            stand_in_annotations(dataset.metainfo))
        metrics = evaluator.metrics
        assert isinstance(metrics[0], PanopticMetric), name
        types = [type(metric).__name__ for metric in metrics]
        if kind == 'synthetic':
            assert types == ['PanopticMetric'], name
            continue
        if isinstance(model, PanopticFPN):  # no pred_instances to score
            assert types == ['PanopticMetric'], name
            continue
        expected = ['PanopticMetric', 'CocoMetric']
        if kind == 'cityscapes' and _has_masks(model):
            expected.append('CityScapesMetric')
        assert types == expected, name
        coco_metric = cfg[name][1]
        assert coco_metric['ann_file'].endswith(INSTANCES_JSON[kind])
        assert metrics[1].metrics == (['bbox', 'segm']
                                      if _has_masks(model) else ['bbox'])


CONFIG_NAME = re.compile(r'(?P<algorithm>[a-z0-9-]+)_(?P<backbone>[a-z0-9-]+)_'
                         r'(?P<neck>[a-z0-9-]+)_(?P<gpus>\d+)xb(?P<batch>\d+)-'
                         r'(?P<schedule>\w+)_(?P<dataset>[a-z0-9_-]+)\.py')
EPOCH_SCHEDULES = {12: '1x', 24: '2x', 36: '3x'}


def _schedule_name(train_cfg) -> str:
    if 'max_epochs' in train_cfg:
        epochs = train_cfg['max_epochs']
        return EPOCH_SCHEDULES.get(epochs, f'{epochs}e')
    iters = train_cfg['max_iters']
    return f'{iters // 1000}k' if iters % 1000 == 0 else f'{iters}i'


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_name_says_batch_and_schedule(path):
    name = CONFIG_NAME.fullmatch(_name(path))
    assert name, f'{_name(path)} does not follow mmdet\'s naming convention'
    cfg = _parsed(path)
    batch = cfg.train_dataloader.batch_size
    base_batch = cfg.get('auto_scale_lr', {}).get('base_batch_size', batch)
    assert int(name['batch']) == batch
    assert int(name['gpus']) * batch == base_batch
    assert name['schedule'] == _schedule_name(cfg.train_cfg)
    assert name['dataset'].split('_')[-1] in ('coco', 'cityscapes',
                                              'synthetic')


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if 'cityscapes' in _name(p)], ids=_name)
def test_cityscapes_crops_are_512_high_and_1024_wide(path):
    """mmdet's RandomCrop of the config on a full 1024 x 2048 image."""
    cfg = _config(path)
    crops = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] in ('RandomCrop', 'mmdet.RandomCrop')
    ]
    if _name(path) in CITYSCAPES_WITHOUT_CROP:
        assert not crops
        return
    assert len(crops) == 1
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        crop = TRANSFORMS.build(crops[0])
    image = np.zeros((1024, 2048, 3), np.uint8)
    out = crop(dict(img=image, img_shape=image.shape[:2]))
    assert out['img'].shape == (512, 1024, 3)


def test_tta_configs_are_those_the_docs_name():
    defined = {
        _name(path)
        for path in CONFIGS
        if {'tta_model', 'tta_pipeline'} <= set(_parsed(path).keys())
    }
    assert defined == TTA_CONFIGS
    docs = open(osp.join(REPO_ROOT, 'docs', 'train_test.md')).read()
    for name in TTA_CONFIGS:
        if 'aunet-' not in name:  # the Table 1 configs: "inherit it"
            assert name in docs, name


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if _name(p) not in TTA_CONFIGS], ids=_name)
def test_other_configs_refuse_tta(path):
    with pytest.raises(KeyError, match='--tta needs'):
        use_tta(_config(path))


def _shrink_tta_pipeline(pipeline: list, factor: int) -> None:
    """Divide the target sizes of the TTA Resize views by ``factor`` (the
    views keep their number, order and ratios; the tiny input stays tiny)."""
    for transform in pipeline:
        for view in transform.get('transforms', []):
            for step in view:
                if step['type'] == 'Resize' and step.get('scale'):
                    step['scale'] = tuple(
                        max(1, round(s / factor)) for s in step['scale'])


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if _name(p) in TTA_CONFIGS], ids=_name)
def test_tta_predict_on_a_tiny_image(path, tiny_synthetic):
    """``--tta`` (use_tta, as tools/test.py) then one test step of the
    PanopticTTAModel over every view of the config's tta_pipeline (Resize
    targets / 16) on a 96 x 112 synthetic image: one panoptic map at the
    original size. Few RPN proposals keep the R50 models fast."""
    cfg = use_tta(_config(path))
    test_cfg = cfg.model.module.test_cfg
    test_cfg.rpn.update(nms_pre=100, max_per_img=20)
    pipeline = copy.deepcopy(cfg.tta_pipeline)
    _shrink_tta_pipeline(pipeline, 16)
    root = tiny_synthetic['root']
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        dataset = DATASETS.build(
            dict(
                type='SyntheticPanopticDataset',
                data_root=root,
                ann_file='annotations/panoptic_val.json',
                data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
                test_mode=True,
                pipeline=pipeline))
    tta_model = _build_model(cfg)
    tta_model.eval()
    item = dataset[0]
    num_views = len(item['inputs'])
    assert num_views == len(cfg.tta_pipeline[1]['transforms'][0]) * 2
    with torch.no_grad():
        results = tta_model.test_step(pseudo_collate([item]))
    assert len(results) == 1
    pan = results[0].pred_panoptic_seg.sem_seg
    assert tuple(pan.shape) == (1, 96, 112)
    num_classes = tta_model.module.num_classes
    assert int((pan % INSTANCE_OFFSET).max()) <= num_classes
