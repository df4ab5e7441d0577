import os.path as osp

import pytest

from mmpanoptic.datasets import write_synthetic_panoptic

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


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
