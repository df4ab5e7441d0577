"""``CocoPanopticDataset`` over the synthetic data, generated on first use."""
import fcntl
import json
import os
import os.path as osp
from typing import Optional

from mmengine.logging import print_log

from mmpanoptic.registry import DATASETS
from .coco_panoptic import CocoPanopticDataset
from .synthetic_generator import SYNTHETIC_METAINFO, write_synthetic_panoptic


@DATASETS.register_module()
class SyntheticPanopticDataset(CocoPanopticDataset):
    """The synthetic COCO-panoptic dataset, written to ``data_root`` if absent.

    The files are plain COCO panoptic (mmdet's ``CocoPanopticDataset`` reads
    them unchanged); this class only adds the class names and, when the
    annotation file is missing or was made with other generator settings,
    (re)generates the whole dataset from ``generator`` first, so a config
    runs from any directory on a fresh machine.

    Args:
        generator (dict): Keyword arguments of
            :func:`write_synthetic_panoptic` (``splits``, ``height``,
            ``width``, ``seed``, ...), without ``out_dir``.
        **kwargs: Passed to ``CocoPanopticDataset``.
    """

    METAINFO = SYNTHETIC_METAINFO

    def __init__(self, *args, generator: Optional[dict] = None, **kwargs):
        self.generator = dict(generator or {})
        super().__init__(*args, **kwargs)

    def load_data_list(self):
        if self.generator:
            ensure_synthetic_dataset(self.data_root, self.ann_file,
                                     self.generator)
        return super().load_data_list()


def _written_with(ann_file: str, generator: dict) -> bool:
    """Whether ``ann_file`` exists and records these generator settings."""
    try:
        with open(ann_file) as f:
            recorded = json.load(f)['info']['generator']
    except (OSError, ValueError, KeyError, TypeError):
        return False
    wanted = json.loads(json.dumps(generator))  # tuples -> lists, as stored
    return all(recorded.get(key) == value for key, value in wanted.items())


def ensure_synthetic_dataset(data_root: str, ann_file: str,
                             generator: dict) -> None:
    """Write the dataset under ``data_root`` unless ``ann_file`` was already
    written with the same ``generator`` settings.

    A lock file serialises concurrent callers (dataloader workers, ranks of
    a distributed run): one writes, the others wait and then reuse it.
    """
    if _written_with(ann_file, generator):
        return
    os.makedirs(data_root, exist_ok=True)
    with open(osp.join(data_root, '.generate.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _written_with(ann_file, generator):
            return
        print_log(
            f'Writing the synthetic panoptic dataset to {data_root} '
            f'({generator})', logger='current')
        write_synthetic_panoptic(data_root, **generator)
