import importlib.util
import os.path as osp
import random

import numpy as np
import pytest
import torch

from mmpanoptic.datasets import write_synthetic_panoptic

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(relative_path: str):
    """Import a script of the repository (one under tools/ or
    .dev_scripts/, which are not packages) as a module."""
    path = osp.join(REPO_ROOT, relative_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def seeded_random_state():
    """Every test starts from the same random state, so a randomly
    initialised model or a random tensor is the same on every run and a
    failure reproduces. (Tools run in a subprocess are not covered: their
    tests use weights with a known answer or assert what holds for any.)"""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """One torch thread for the test: on tiny inputs through full-size
    models several threads only wait for each other (7x slower on a busy
    2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    """A small synthetic COCO-panoptic dataset shared by the tests."""
    root = str(tmp_path_factory.mktemp('synthetic_panoptic'))
    generator = dict(splits=dict(train=6, val=3), height=96, width=112,
                     seed=3)
    write_synthetic_panoptic(root, **generator)
    return dict(root=root, generator=generator)


def tiny_synthetic_cfg_options(root: str, generator: dict) -> dict:
    """Config overrides that point a synthetic config at ``root``."""
    datasets = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        datasets[f'{loader}.dataset.data_root'] = root
        datasets[f'{loader}.dataset.generator'] = generator
        datasets[f'{loader}.num_workers'] = 0
        datasets[f'{loader}.persistent_workers'] = False
    for evaluator in ('val_evaluator', 'test_evaluator'):
        datasets[f'{evaluator}.ann_file'] = osp.join(
            root, 'annotations/panoptic_val.json')
        datasets[f'{evaluator}.seg_prefix'] = osp.join(
            root, 'annotations/panoptic_val/')
    return datasets


def tiny_synthetic_cli_options(data_root=None, train=4, val=2,
                               size=64) -> list:
    """``--cfg-options`` strings that shrink a synthetic config's data to a
    few ``size`` x ``size`` images (under ``data_root``, or the config's own
    relative root when None), loaded in the main process."""
    leaves = {
        'dataset.generator.splits.train': train,
        'dataset.generator.splits.val': val,
        'dataset.generator.height': size,
        'dataset.generator.width': size,
        'num_workers': 0,
        'persistent_workers': False,
    }
    if data_root is not None:
        leaves['dataset.data_root'] = data_root
    options = [
        f'{loader}.{key}={value}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader') for key, value in leaves.items()
    ]
    if data_root is not None:
        options += [
            f'{evaluator}.{key}={data_root}/annotations/{value}'
            for evaluator in ('val_evaluator', 'test_evaluator')
            for key, value in (('ann_file', 'panoptic_val.json'),
                               ('seg_prefix', 'panoptic_val/'))
        ]
    return options
