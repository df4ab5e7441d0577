"""Every config parses, uses the mmpanoptic scope, and builds its data
through mmpanoptic's validated dataset and panoptic annotation loader."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpanoptic.datasets import CocoPanopticDataset, LoadPanopticAnnotations
from mmpanoptic.registry import DATASETS, TRANSFORMS
from mmpanoptic.utils import register_all_modules

from .conftest import REPO_ROOT

register_all_modules()

CONFIGS = sorted(
    path for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
    if '_base_' not in path)


def _get(registry, cfg):
    scope = cfg.get('_scope_', 'mmpanoptic')
    with DefaultScope.overwrite_default_scope(scope):
        return registry.get(cfg['type'])


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_and_uses_mmpanoptic_data(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpanoptic'
    assert 'model' in cfg and 'type' in cfg.model
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        while 'dataset' in dataset:  # dataset wrappers
            dataset = dataset['dataset']
        assert issubclass(_get(DATASETS, dataset), CocoPanopticDataset), (
            loader, dataset['type'])
        loaders = [t for t in dataset['pipeline']
                   if 'PanopticAnnotations' in t['type']]
        assert loaders, f'{loader} does not load panoptic annotations'
        for transform in loaders:
            assert issubclass(_get(TRANSFORMS, transform),
                              LoadPanopticAnnotations)
