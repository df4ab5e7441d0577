"""COCO panoptic dataset: mmdet's, read directly and validated up front."""
import os.path as osp
from collections import defaultdict
from typing import List

from mmdet.datasets import CocoPanopticDataset as MMDetCocoPanopticDataset
from mmengine.fileio import load

from mmpanoptic.registry import DATASETS
from .validation import annotation_problems, category_problems


class PanopticDataError(ValueError):
    """A panoptic annotation that cannot be used, with the file named."""


@DATASETS.register_module()
class CocoPanopticDataset(MMDetCocoPanopticDataset):
    """mmdet's ``CocoPanopticDataset`` with the same data list, but

    * the JSON is read directly, not through the COCO API (whose
      per-segment-id index is quadratic when images reuse segment ids, as
      Cityscapes' stuff ids do);
    * the classes are checked against the file before anything is loaded:
      things first, every class present with the right ``isthing``, no
      segment of an unknown category. mmdet would silently shift labels
      (PQ near 0) or fail with a bare ``KeyError``.

    Labels: things ``[0, T)``, stuff ``[T, T+S)`` in ``metainfo['classes']``
    order. Crowd things get no instance (as in mmdet); their pixels keep
    their class in ``gt_seg_map``.
    """

    def load_data_list(self) -> List[dict]:
        coco = load(self.ann_file, backend_args=self.backend_args)
        problems = category_problems(coco['categories'], self.metainfo)
        by_name = {c['name']: c['id'] for c in coco['categories']}
        if not problems:
            self.cat_ids = [by_name[n] for n in self.metainfo['classes']]
            problems = annotation_problems(coco, self.cat_ids,
                                           where=f'{self.ann_file}: ')
        if problems:
            raise PanopticDataError(
                f'{self.ann_file} does not fit the dataset classes:\n  ' +
                '\n  '.join(problems[:20]) +
                (f'\n  ... and {len(problems) - 20} more' if len(problems) >
                 20 else '') +
                '\nRun tools/misc/check_dataset.py for a full report.')
        self.cat2label = {cat: i for i, cat in enumerate(self.cat_ids)}
        self.cat_img_map = defaultdict(list)
        categories = {c['id']: c for c in coco['categories']}
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
        """``instances`` and ``segments_info`` as mmdet makes them."""
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
