"""Validate a COCO-panoptic dataset up front; report every problem at once.

    python tools/misc/check_dataset.py ANN_JSON --img-dir DIR --seg-dir DIR \
        [--config CONFIG] [--max-report 50]

Checks the JSON (categories with ``isthing``, things first or the config's
classes things first and present, known category ids, unique segment ids,
annotations of existing images), then every image: the image and panoptic
PNG exist, decode, have the JSON's size; PNG ids and JSON segments agree
both ways; JSON ``area`` and ``bbox`` match the PNG. Exits with status 1 if
anything is wrong (0 otherwise), after listing all problems.
"""
import argparse
import json
import os.path as osp
import sys
from collections import Counter

import cv2
import numpy as np

from mmpanoptic.utils import rgb2id
from mmpanoptic.datasets.validation import (annotation_problems,
                                            category_problems,
                                            panoptic_png_problems)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann_file', help='COCO panoptic JSON')
    parser.add_argument('--img-dir', required=True, help='image folder')
    parser.add_argument('--seg-dir', required=True,
                        help='panoptic PNG folder')
    parser.add_argument(
        '--config',
        help='check the JSON against this config\'s train dataset classes '
        '(default: the classes the JSON implies, things first)')
    parser.add_argument('--max-report', type=int, default=50,
                        help='problems printed per kind')
    return parser.parse_args()


def metainfo_of(coco: dict, config: str = None) -> dict:
    """The dataset classes to check against."""
    if config:
        from mmengine.config import Config
        from mmengine.registry import DefaultScope

        from mmpanoptic.registry import DATASETS
        from mmpanoptic.utils import register_all_modules
        from mmpanoptic.utils.config_path import find_config
        register_all_modules()
        cfg = Config.fromfile(find_config(config))
        dataset = cfg.train_dataloader.dataset
        while 'dataset' in dataset:
            dataset = dataset.dataset
        with DefaultScope.overwrite_default_scope('mmpanoptic'):
            dataset_cls = DATASETS.get(dataset.type)
        meta = dict(dataset_cls.METAINFO)
        meta.update(dataset.get('metainfo') or {})
        return meta
    things = tuple(c['name'] for c in coco['categories'] if c.get('isthing'))
    stuff = tuple(c['name'] for c in coco['categories']
                  if not c.get('isthing'))
    return dict(classes=things + stuff, thing_classes=things,
                stuff_classes=stuff)


def json_order_problems(coco: dict) -> list:
    """mmdet's CocoPanopticDataset labels in the JSON's category order."""
    flags = [bool(c.get('isthing')) for c in coco['categories']]
    if flags != sorted(flags, reverse=True):
        first_stuff = flags.index(False)
        late = [c['name'] for c in coco['categories'][first_stuff:]
                if c.get('isthing')]
        return [f'categories are not things first in the JSON: thing '
                f'categories {late[:10]} come after the first stuff '
                'category (mmdet\'s CocoPanopticDataset would mislabel '
                'them).']
    return []


def image_problems(image: dict, annotation: dict, img_dir: str,
                   seg_dir: str) -> list:
    problems = []
    img_path = osp.join(img_dir, image['file_name'])
    size = (image['height'], image['width'])
    img = cv2.imread(img_path, cv2.IMREAD_UNCHANGED) \
        if osp.isfile(img_path) else None
    if not osp.isfile(img_path):
        problems.append(f'{img_path}: image file is missing.')
    elif img is None:
        problems.append(f'{img_path}: image cannot be decoded.')
    elif img.shape[:2] != size:
        problems.append(f'{img_path}: image is {img.shape[1]}x'
                        f'{img.shape[0]}, the JSON says {size[1]}x{size[0]}.')
    if annotation is None:
        problems.append(f'{img_path}: no entry in "annotations".')
        return problems
    seg_path = osp.join(seg_dir, annotation['file_name'])
    if not osp.isfile(seg_path):
        return problems + [f'{seg_path}: panoptic PNG is missing.']
    png = cv2.imread(seg_path, cv2.IMREAD_COLOR)
    if png is None:
        return problems + [f'{seg_path}: panoptic PNG cannot be decoded.']
    ids = rgb2id(png[..., ::-1])
    if ids.shape != size:
        return problems + [
            f'{seg_path}: panoptic PNG is {ids.shape[1]}x{ids.shape[0]}, '
            f'the JSON says {size[1]}x{size[0]}.'
        ]
    segments = annotation['segments_info']
    problems += panoptic_png_problems(ids, segments, seg_path,
                                      check_areas=True)
    for segment in segments:
        ys, xs = np.nonzero(ids == segment['id'])
        if len(ys) and 'bbox' in segment:
            bbox = [int(xs.min()), int(ys.min()),
                    int(xs.max() - xs.min() + 1),
                    int(ys.max() - ys.min() + 1)]
            if [int(round(v)) for v in segment['bbox']] != bbox:
                problems.append(f'{seg_path}: segment {segment["id"]} has '
                                f'bbox {segment["bbox"]} in the JSON, '
                                f'{bbox} in the PNG.')
    return problems


def check_dataset(ann_file: str, img_dir: str, seg_dir: str,
                  config: str = None) -> tuple:
    """(problems, statistics) of a COCO-panoptic dataset."""
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except (OSError, ValueError) as error:
        return [f'{ann_file}: cannot be read as JSON ({error}).'], {}
    missing = [k for k in ('images', 'annotations', 'categories')
               if k not in coco]
    if missing:
        return [f'{ann_file}: has no {missing}.'], {}
    meta = metainfo_of(coco, config)
    problems = json_order_problems(coco) if not config else []
    problems += [f'{ann_file}: {p}'
                 for p in category_problems(coco['categories'], meta)]
    by_name = {c['name']: c['id'] for c in coco['categories']}
    known = [by_name[n] for n in meta['classes'] if n in by_name]
    problems += annotation_problems(coco, known, where=f'{ann_file}: ')
    annotations = {a['image_id']: a for a in coco['annotations']}
    stats = Counter()
    for index, image in enumerate(coco['images']):
        annotation = annotations.get(image['id'])
        problems += image_problems(image, annotation, img_dir, seg_dir)
        segments = annotation['segments_info'] if annotation else []
        stats['images'] += 1
        stats['segments'] += len(segments)
        stats['crowd segments'] += sum(s.get('iscrowd', 0) for s in segments)
        stats['images without segments'] += not segments
        stats['max segments in an image'] = max(
            stats['max segments in an image'], len(segments))
        if (index + 1) % 500 == 0:
            print(f'checked {index + 1}/{len(coco["images"])} images',
                  file=sys.stderr)
    return problems, dict(stats)


def main():
    args = parse_args()
    problems, stats = check_dataset(args.ann_file, args.img_dir,
                                    args.seg_dir, args.config)
    for key, value in stats.items():
        print(f'{key}: {value}')
    if not problems:
        print(f'OK: no problems found in {args.ann_file}')
        return
    kinds = Counter(p.split(': ', 1)[-1].split(' ')[0] for p in problems)
    print(f'{len(problems)} problems found:')
    shown = Counter()
    for problem in problems:
        kind = problem.split(': ', 1)[-1].split(' ')[0]
        shown[kind] += 1
        if shown[kind] <= args.max_report:
            print(f'  {problem}')
    for kind, count in kinds.items():
        if count > args.max_report:
            print(f'  ... {count - args.max_report} more like "{kind} ..."')
    sys.exit(1)


if __name__ == '__main__':
    main()
