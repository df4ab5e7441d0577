"""Cityscapes panoptic (8 things, 11 stuff, things first) in COCO panoptic
format, as written by ``tools/dataset_converters/cityscapes.py``."""
import os.path as osp
from collections import defaultdict
from typing import List

from mmdet.datasets import CocoPanopticDataset
from mmengine.fileio import load

from mmpanoptic.registry import DATASETS

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
    It is read directly (not through the COCO API, whose per-segment-id
    index is quadratic on Cityscapes, where every image reuses the stuff
    ids 7..23).
    """

    METAINFO = CITYSCAPES_PANOPTIC_METAINFO

    def load_data_list(self) -> List[dict]:
        coco = load(self.ann_file, backend_args=self.backend_args)
        categories = {c['id']: c for c in coco['categories']}
        by_name = {c['name']: c['id'] for c in coco['categories']}
        missing = [n for n in self.metainfo['classes'] if n not in by_name]
        if missing:
            raise ValueError(f'{self.ann_file} has no categories {missing}.')
        self.cat_ids = [by_name[n] for n in self.metainfo['classes']]
        self.cat2label = {cat: i for i, cat in enumerate(self.cat_ids)}
        self.cat_img_map = defaultdict(list)

        annotations = {a['image_id']: a for a in coco.get('annotations', [])}
        data_list = []
        for image in coco['images']:
            annotation = annotations.get(image['id'])
            data_info = dict(
                img_path=osp.join(self.data_prefix['img'], image['file_name']),
                img_id=image['id'],
                seg_map_path=None,
                height=image['height'],
                width=image['width'])
            if annotation is not None and self.data_prefix.get('seg'):
                data_info['seg_map_path'] = osp.join(self.data_prefix['seg'],
                                                     annotation['file_name'])
            segments = annotation['segments_info'] if annotation else []
            data_info.update(self._parse_segments(segments, categories))
            for segment in segments:
                self.cat_img_map[segment['category_id']].append(image['id'])
            data_list.append(data_info)
        return data_list

    def _parse_segments(self, segments: List[dict], categories: dict) -> dict:
        """``instances`` and ``segments_info`` as ``CocoPanopticDataset``
        makes them (crowd things: no instance, ``is_thing=False``; their
        pixels keep their class in ``gt_seg_map``)."""
        instances, segments_info = [], []
        for segment in segments:
            x1, y1, w, h = segment['bbox']
            if segment['area'] <= 0 or w < 1 or h < 1:
                continue
            label = self.cat2label[segment['category_id']]
            is_thing = bool(categories[segment['category_id']]['isthing'])
            if is_thing and segment.get('iscrowd', False):
                is_thing = False  # as mmdet: crowd is neither box nor mask
            if is_thing:
                instances.append(
                    dict(
                        bbox=[x1, y1, x1 + w, y1 + h],
                        bbox_label=label,
                        ignore_flag=0))
            segments_info.append(
                dict(id=segment['id'], category=label, is_thing=is_thing))
        return dict(instances=instances, segments_info=segments_info)
