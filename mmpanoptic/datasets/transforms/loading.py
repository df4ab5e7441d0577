"""Panoptic annotation loading that checks the PNG against the JSON."""
import mmcv
import numpy as np
from mmdet.datasets.transforms import \
    LoadPanopticAnnotations as MMDetLoadPanopticAnnotations
from mmdet.structures.mask import BitmapMasks
from mmengine.fileio import get

from mmpanoptic.registry import TRANSFORMS
from ..coco_panoptic import PanopticDataError
from mmpanoptic.utils.panoptic_ids import rgb2id
from ..validation import panoptic_png_problems


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(MMDetLoadPanopticAnnotations):
    """mmdet's ``LoadPanopticAnnotations`` (same outputs: ``gt_bboxes``,
    ``gt_bboxes_labels``, ``gt_masks``, ``gt_seg_map`` with 255 = VOID,
    ``gt_ignore_flags``), vectorised over segments and strict:

    a PNG that cannot be decoded, whose size differs from the image's, that
    holds segment ids missing from the JSON, or lacks JSON segments raises
    :class:`PanopticDataError` naming the PNG (mmdet would train on those
    pixels as VOID or on empty masks, or fail inside a head). Any number of
    segments per image (no 8-bit limit).
    """

    def _load_masks_and_semantic_segs(self, results: dict) -> None:
        path = results.get('seg_map_path')
        if path is None:
            return
        # decode as BGR: mmcv's RGB conversion would fail on a None image
        png = mmcv.imfrombytes(
            get(path, backend_args=self.backend_args),
            flag='color',
            channel_order='bgr')
        if png is None:
            raise PanopticDataError(
                f'{path}: the panoptic PNG cannot be decoded.')
        id_map = rgb2id(png[..., ::-1])
        height, width = results['ori_shape']
        if id_map.shape != (height, width):
            raise PanopticDataError(
                f'{path}: the panoptic PNG is {id_map.shape[1]}x'
                f'{id_map.shape[0]} but its image {results.get("img_path")} '
                f'is {width}x{height}.')
        segments = results['segments_info']
        problems = panoptic_png_problems(id_map, segments, path)
        if problems:
            raise PanopticDataError('\n'.join(problems))

        ids = np.array([s['id'] for s in segments], np.int64)
        labels = np.array([s['category'] for s in segments], np.int32)
        order = np.argsort(ids)
        row = np.searchsorted(ids[order], id_map).clip(0, max(len(ids) - 1, 0))
        if len(ids):
            known = ids[order][row] == id_map
            gt_seg = np.where(known, labels[order][row], 255).astype(np.int32)
        else:
            gt_seg = np.full(id_map.shape, 255, np.int32)

        if self.with_mask:
            thing_ids = np.array([s['id'] for s in segments if s['is_thing']],
                                 np.int64)
            masks = (id_map[None] == thing_ids[:, None, None]).astype(
                np.uint8)
            results['gt_masks'] = BitmapMasks(masks, height, width)
        if self.with_seg:
            results['gt_seg_map'] = gt_seg
