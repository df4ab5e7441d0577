"""Convert Cityscapes ``gtFine`` to COCO panoptic format plus semantic maps.

Follows cityscapesscripts' ``preparation/createPanopticImgs.py`` segment by
segment: every value of ``*_gtFine_instanceIds.png`` is a segment; values
>= 1000 are instances (label id = value // 1000), values < 1000 are a label
id (crowd when the class has instances); classes with ``ignoreInEval`` become
VOID (0); the segment id is the instanceIds value; area and bbox are counted
in the image. Differences, all in the file layout: categories are listed
things first in mmpanoptic's order (category id = Cityscapes label id),
image ids are integers (1, 2, ... in file order) and image ``file_name`` is
the real path ``<city>/<name>_leftImg8bit.png`` under ``leftImg8bit/<split>``.

Also writes semantic label maps from ``*_gtFine_labelIds.png``: uint8,
things first (person 0 ... bicycle 7, road 8 ... sky 18), 255 = ignore; and
a COCO instances JSON for box and mask AP (mmdet's ``CocoMetric``) with the
same image ids as the panoptic JSON: one annotation per thing segment (RLE
mask, area, bbox; groups as ``iscrowd`` 1), the annotations mmdet's own
Cityscapes converter makes.

Output (``--out-dir``, default ``<root>/gtFine``)::

    cityscapes_panoptic_<split>.json
    cityscapes_panoptic_<split>/<name>_gtFine_panoptic.png
    cityscapes_panoptic_<split>_semantic/<name>_gtFine_semantic.png
    cityscapes_instances_<split>.json

Usage::

    python tools/dataset_converters/cityscapes.py data/cityscapes \
        --splits train val --nproc 8
"""
import argparse
import glob
import json
import os
import os.path as osp
from functools import partial
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from cityscapesscripts.helpers.labels import id2label
from mmengine.utils import track_parallel_progress, track_progress

from mmpanoptic.datasets.cityscapes_panoptic import (CITYSCAPES_STUFF,
                                                     CITYSCAPES_THINGS)
from mmpanoptic.utils import id2rgb

IGNORE_LABEL = 255
CLASSES = CITYSCAPES_THINGS + CITYSCAPES_STUFF  # (name, label id, colour)


def categories() -> List[dict]:
    """COCO panoptic categories, things first (mmpanoptic's label order)."""
    return [
        dict(
            id=label_id,
            name=name,
            color=list(color),
            supercategory=id2label[label_id].category,
            isthing=int(id2label[label_id].hasInstances))
        for name, label_id, color in CLASSES
    ]


def instance_categories() -> List[dict]:
    """COCO instance categories: the thing classes, ids = label ids."""
    return [
        dict(id=label_id, name=name) for name, label_id, _ in CITYSCAPES_THINGS
    ]


def label_id_to_train_label() -> np.ndarray:
    """(256,) uint8 lookup: Cityscapes label id -> our label or 255."""
    lookup = np.full(256, IGNORE_LABEL, np.uint8)
    for label, (_, label_id, _) in enumerate(CLASSES):
        lookup[label_id] = label
    return lookup


def convert_instance_ids(instance_ids: np.ndarray,
                         name: str = '') -> Tuple[np.ndarray, List[dict]]:
    """createPanopticImgs on one ``instanceIds`` map.

    Args:
        instance_ids (np.ndarray): (H, W) ints, label id * 1000 + k for
            instances, the label id elsewhere.

    Returns:
        tuple: (H, W) int64 panoptic ids (0 = VOID) and ``segments_info``
        (id, category_id, area, bbox, iscrowd), in increasing id order.
    """
    values, inverse, areas = np.unique(
        instance_ids, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(instance_ids.shape)
    height, width = instance_ids.shape
    # rows / columns each segment touches, for the boxes
    on_row = np.zeros((len(values), height), bool)
    on_row[inverse, np.arange(height)[:, None]] = True
    on_col = np.zeros((len(values), width), bool)
    on_col[inverse, np.arange(width)[None, :]] = True

    keep = np.zeros(len(values), bool)
    segments_info = []
    for k, value in enumerate(values.tolist()):
        is_crowd = value < 1000
        label_id = value if is_crowd else value // 1000
        if label_id not in id2label:
            raise ValueError(f'{name}: instance id {value} has unknown '
                             f'Cityscapes label id {label_id}.')
        label = id2label[label_id]
        if label.ignoreInEval:
            continue
        if not label.hasInstances:
            is_crowd = False
        keep[k] = True
        rows, cols = np.flatnonzero(on_row[k]), np.flatnonzero(on_col[k])
        segments_info.append(
            dict(
                id=int(value),
                category_id=int(label.id),
                area=int(areas[k]),
                bbox=[
                    int(cols[0]),
                    int(rows[0]),
                    int(cols[-1] - cols[0] + 1),
                    int(rows[-1] - rows[0] + 1)
                ],
                iscrowd=int(is_crowd)))
    panoptic = np.where(keep, values, 0)[inverse].astype(np.int64)
    return panoptic, segments_info


def instance_annotations(panoptic: np.ndarray, segments_info: List[dict],
                         thing_ids: Sequence[int]) -> List[dict]:
    """COCO instance annotations of the thing segments of one image.

    Args:
        panoptic (np.ndarray): (H, W) segment ids (COCO panoptic).
        segments_info (list[dict]): its segments (``id``, ``category_id``,
            ``area``, ``bbox``, ``iscrowd``).
        thing_ids (Sequence[int]): the category ids of things.

    Returns:
        list[dict]: ``category_id``, ``iscrowd``, ``area``, ``bbox`` of the
        segment and its ``segmentation`` as RLE (``counts`` a string).
    """
    thing_ids = set(thing_ids)
    annotations = []
    for segment in segments_info:
        if segment['category_id'] not in thing_ids:
            continue
        rle = mask_utils.encode(
            np.asfortranarray(panoptic == segment['id'], dtype=np.uint8))
        rle['counts'] = rle['counts'].decode()
        annotations.append(
            dict(
                category_id=segment['category_id'],
                iscrowd=segment['iscrowd'],
                area=segment['area'],
                bbox=segment['bbox'],
                segmentation=rle))
    return annotations


def _read(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 2:
        raise ValueError(f'Cannot read {path} as a single-channel PNG.')
    return image


def convert_one(instance_file: str, panoptic_dir: str,
                semantic_dir: str) -> Tuple[dict, dict, List[dict]]:
    """Convert one image; return its JSON entries: image, panoptic
    annotation and instance annotations."""
    stem = osp.basename(instance_file)[:-len('_gtFine_instanceIds.png')]
    city = osp.basename(osp.dirname(instance_file))
    panoptic, segments_info = convert_instance_ids(
        _read(instance_file).astype(np.int64), instance_file)
    panoptic_name = f'{stem}_gtFine_panoptic.png'
    cv2.imwrite(
        osp.join(panoptic_dir, panoptic_name),
        id2rgb(panoptic)[..., ::-1])
    label_ids = _read(
        instance_file.replace('_instanceIds.png', '_labelIds.png'))
    semantic = label_id_to_train_label()[label_ids]
    cv2.imwrite(
        osp.join(semantic_dir, f'{stem}_gtFine_semantic.png'), semantic)
    height, width = panoptic.shape
    image = dict(
        file_name=f'{city}/{stem}_leftImg8bit.png', height=height, width=width)
    annotation = dict(file_name=panoptic_name, segments_info=segments_info)
    thing_ids = [label_id for _, label_id, _ in CITYSCAPES_THINGS]
    return image, annotation, instance_annotations(panoptic, segments_info,
                                                   thing_ids)


def convert_split(cityscapes_root: str,
                  split: str,
                  out_dir: str,
                  nproc: int = 1) -> str:
    """Convert ``gtFine/<split>``; return the panoptic JSON path (the
    instances JSON is ``cityscapes_instances_<split>.json`` beside it)."""
    instance_files = sorted(
        glob.glob(
            osp.join(cityscapes_root, 'gtFine', split, '*',
                     '*_gtFine_instanceIds.png')))
    if not instance_files:
        raise FileNotFoundError(
            f'No *_gtFine_instanceIds.png under '
            f'{osp.join(cityscapes_root, "gtFine", split)}/<city>/.')
    panoptic_dir = osp.join(out_dir, f'cityscapes_panoptic_{split}')
    semantic_dir = panoptic_dir + '_semantic'
    os.makedirs(panoptic_dir, exist_ok=True)
    os.makedirs(semantic_dir, exist_ok=True)
    work = partial(
        convert_one, panoptic_dir=panoptic_dir, semantic_dir=semantic_dir)
    if nproc > 1:
        entries = track_parallel_progress(work, instance_files, nproc)
    else:
        entries = track_progress(work, instance_files)
    images, annotations, instances = [], [], []
    for image_id, (image, annotation, image_instances) in enumerate(
            entries, start=1):
        images.append(dict(id=image_id, **image))
        annotations.append(dict(image_id=image_id, **annotation))
        for instance in image_instances:
            instances.append(
                dict(id=len(instances) + 1, image_id=image_id, **instance))
    json_file = panoptic_dir + '.json'
    with open(json_file, 'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=annotations,
                categories=categories()), f)
    with open(osp.join(out_dir, f'cityscapes_instances_{split}.json'),
              'w') as f:
        json.dump(
            dict(
                images=images,
                annotations=instances,
                categories=instance_categories()), f)
    return json_file


def parse_args():
    parser = argparse.ArgumentParser(
        description='Cityscapes gtFine -> COCO panoptic, semantic maps and '
        'COCO instances')
    parser.add_argument(
        'cityscapes_root', help='folder with gtFine/ and leftImg8bit/')
    parser.add_argument(
        '--out-dir', help='output folder (default: <root>/gtFine)')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    parser.add_argument('--nproc', type=int, default=1)
    return parser.parse_args()


def main():
    args = parse_args()
    out_dir = args.out_dir or osp.join(args.cityscapes_root, 'gtFine')
    for split in args.splits:
        json_file = convert_split(args.cityscapes_root, split, out_dir,
                                  args.nproc)
        print(f'\n{split}: {json_file}')


if __name__ == '__main__':
    main()
