"""Cityscapes panoptic (8 things, 11 stuff, things first) in COCO panoptic
format, as written by ``tools/dataset_converters/cityscapes.py``."""
from mmpanoptic.registry import DATASETS
from .coco_panoptic import CocoPanopticDataset

# (name, Cityscapes label id, colour) of the 19 evaluated classes, things
# first; label ids and colours of cityscapesscripts.helpers.labels.
CITYSCAPES_THINGS = (
    ('person', 24, (220, 20, 60)),
    ('rider', 25, (255, 0, 0)),
    ('car', 26, (0, 0, 142)),
    ('truck', 27, (0, 0, 70)),
    ('bus', 28, (0, 60, 100)),
    ('train', 31, (0, 80, 100)),
    ('motorcycle', 32, (0, 0, 230)),
    ('bicycle', 33, (119, 11, 32)),
)
CITYSCAPES_STUFF = (
    ('road', 7, (128, 64, 128)),
    ('sidewalk', 8, (244, 35, 232)),
    ('building', 11, (70, 70, 70)),
    ('wall', 12, (102, 102, 156)),
    ('fence', 13, (190, 153, 153)),
    ('pole', 17, (153, 153, 153)),
    ('traffic light', 19, (250, 170, 30)),
    ('traffic sign', 20, (220, 220, 0)),
    ('vegetation', 21, (107, 142, 35)),
    ('terrain', 22, (152, 251, 152)),
    ('sky', 23, (70, 130, 180)),
)
CITYSCAPES_PANOPTIC_METAINFO = dict(
    classes=tuple(c[0] for c in CITYSCAPES_THINGS + CITYSCAPES_STUFF),
    thing_classes=tuple(c[0] for c in CITYSCAPES_THINGS),
    stuff_classes=tuple(c[0] for c in CITYSCAPES_STUFF),
    palette=[c[2] for c in CITYSCAPES_THINGS + CITYSCAPES_STUFF])


@DATASETS.register_module()
class CityscapesPanopticDataset(CocoPanopticDataset):
    """Cityscapes panoptic segmentation, COCO panoptic files.

    Labels: things [0, 8) (person ... bicycle), stuff [8, 19) (road ... sky),
    255 ignore, the order of :data:`CITYSCAPES_PANOPTIC_METAINFO`.

    The annotation file is the one ``tools/dataset_converters/cityscapes.py``
    writes: images ``file_name`` relative to ``leftImg8bit/<split>/``
    (``<city>/<city>_<seq>_<frame>_leftImg8bit.png``) and panoptic PNGs named
    by the annotations' ``file_name``, relative to ``data_prefix['seg']``.
    Loading and validation are :class:`CocoPanopticDataset`'s (the JSON is
    read directly: the COCO API's per-segment-id index is quadratic on
    Cityscapes, where every image reuses the stuff ids 7..23).
    """

    METAINFO = CITYSCAPES_PANOPTIC_METAINFO
