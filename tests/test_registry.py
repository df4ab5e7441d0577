import os.path as osp

from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpanoptic.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmpanoptic.utils import register_all_modules

from .conftest import REPO_ROOT

register_all_modules()


def test_registries_are_children_of_mmdet():
    from mmdet.registry import MODELS as MMDET_MODELS
    assert MODELS.parent is MMDET_MODELS
    assert MODELS.scope == 'mmpanoptic'
    assert 'mmpanoptic.models' in MODELS._locations


def test_own_modules_resolve_in_own_scope():
    from mmpanoptic.datasets import SyntheticPanopticDataset
    assert DATASETS.get('SyntheticPanopticDataset') is \
        SyntheticPanopticDataset


def test_mmdet_modules_resolve_through_parent():
    from mmdet.datasets.transforms import LoadPanopticAnnotations
    from mmdet.models import PanopticFPN
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        assert MODELS.get('PanopticFPN') is PanopticFPN
        assert MODELS.get('mmdet.PanopticFPN') is PanopticFPN
        # mmpanoptic's stricter subclass shadows mmdet's in our scope ...
        ours = TRANSFORMS.get('LoadPanopticAnnotations')
        assert ours.__module__.startswith('mmpanoptic.')
        assert issubclass(ours, LoadPanopticAnnotations)
        # ... and mmdet's stays reachable with its prefix
        assert TRANSFORMS.get('mmdet.LoadPanopticAnnotations') is \
            LoadPanopticAnnotations
        assert METRICS.get('CocoPanopticMetric') is not None


def test_mmseg_modules_resolve_with_prefix():
    from mmseg.models.losses import LovaszLoss
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        loss = MODELS.build(
            dict(type='mmseg.LovaszLoss', loss_type='multi_class',
                 reduction='none'))
    assert isinstance(loss, LovaszLoss)


def test_configs_use_mmpanoptic_scope():
    cfg = Config.fromfile(
        osp.join(
            REPO_ROOT,
            'configs/panoptic_fpn/panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py')
    )
    assert cfg.default_scope == 'mmpanoptic'
    assert cfg.model.type == 'PanopticFPN'
    assert cfg.model.backbone.depth == 18
    assert cfg.model.backbone.init_cfg is None  # nothing downloaded
    coco = Config.fromfile(
        osp.join(REPO_ROOT,
                 'configs/panoptic_fpn/panoptic-fpn_r50_fpn_8xb2-1x_coco.py'))
    assert coco.default_scope == 'mmpanoptic'
    assert coco.model.semantic_head.num_stuff_classes == 53
