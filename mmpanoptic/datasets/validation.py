"""Checks of COCO-panoptic data, as pure functions returning problems.

Each function returns a list of human-readable problems (empty when all is
well); callers decide whether to raise (datasets, transforms) or to collect
every problem of a dataset in one pass (``tools/misc/check_dataset.py``).
"""
from typing import Dict, List, Sequence

import numpy as np


def category_problems(categories: Sequence[dict], metainfo: dict) -> List[str]:
    """Problems between the JSON ``categories`` and a dataset's classes.

    mmdet and mmpanoptic label things ``[0, T)`` and stuff ``[T, T+S)`` in
    the order of ``metainfo['classes']``; a class list that is not things
    first, or names that are not in the file, silently give a PQ near 0.
    """
    problems = []
    classes = list(metainfo.get('classes', ()))
    things = list(metainfo.get('thing_classes', ()))
    stuff = list(metainfo.get('stuff_classes', ()))
    if classes != things + stuff:
        problems.append(
            'classes must be thing_classes followed by stuff_classes (things '
            f'first); got classes={classes}, thing_classes={things}, '
            f'stuff_classes={stuff}.')
    by_name: Dict[str, dict] = {}
    for category in categories:
        if category['name'] in by_name:
            problems.append(
                f'category name {category["name"]!r} appears twice.')
        by_name[category['name']] = category
    missing = [name for name in classes if name not in by_name]
    if missing:
        problems.append(f'classes {missing} are not categories of the file '
                        f'(it has {sorted(by_name)}).')
    for name in things:
        if name in by_name and not by_name[name].get('isthing', 0):
            problems.append(f'{name!r} is a thing class of the dataset but '
                            'has isthing=0 in the file.')
    for name in stuff:
        if name in by_name and by_name[name].get('isthing', 0):
            problems.append(f'{name!r} is a stuff class of the dataset but '
                            'has isthing=1 in the file.')
    if any('isthing' not in c for c in categories):
        problems.append('categories lack the "isthing" field.')
    return problems


def annotation_problems(coco: dict, known_category_ids: Sequence[int],
                        where: str = '') -> List[str]:
    """Problems of ``images``/``annotations`` entries of a panoptic JSON.

    Args:
        coco: The loaded JSON.
        known_category_ids: Category ids the dataset maps to labels.
        where: Prefix naming the file in the messages.
    """
    problems = []
    known = set(known_category_ids)
    image_ids = {image['id'] for image in coco.get('images', [])}
    for annotation in coco.get('annotations', []):
        name = f'{where}{annotation.get("file_name", annotation["image_id"])}'
        if annotation['image_id'] not in image_ids:
            problems.append(f'{name}: annotation of image_id '
                            f'{annotation["image_id"]}, which is not in '
                            '"images".')
        seen = set()
        for segment in annotation.get('segments_info', []):
            if segment['id'] in seen:
                problems.append(f'{name}: segment id {segment["id"]} is '
                                'listed twice.')
            seen.add(segment['id'])
            if segment['id'] == 0:
                problems.append(f'{name}: segment id 0 is reserved for VOID.')
            if segment['category_id'] not in known:
                problems.append(
                    f'{name}: segment {segment["id"]} has category_id '
                    f'{segment["category_id"]}, which is not a class of the '
                    'dataset.')
    return problems


def panoptic_png_problems(id_map: np.ndarray, segments: Sequence[dict],
                          name: str, check_areas: bool = False) -> List[str]:
    """Problems between a decoded panoptic PNG and its ``segments_info``.

    Args:
        id_map: (H, W) segment ids, 0 = VOID.
        segments: ``segments_info`` entries (``id``, optionally ``area``).
        name: The PNG's path, for the messages.
        check_areas: Also compare JSON ``area`` with pixel counts.
    """
    problems = []
    ids, counts = np.unique(id_map, return_counts=True)
    png_area = dict(zip(ids.tolist(), counts.tolist()))
    png_area.pop(0, None)
    json_ids = {segment['id'] for segment in segments}
    unknown = sorted(set(png_area) - json_ids)
    if unknown:
        problems.append(
            f'{name}: segment ids {unknown[:10]}'
            f'{" ..." if len(unknown) > 10 else ""} are in the PNG but not '
            f'in the JSON ({sum(png_area[i] for i in unknown)} pixels).')
    absent = sorted(json_ids - set(png_area))
    if absent:
        problems.append(
            f'{name}: segment ids {absent[:10]}'
            f'{" ..." if len(absent) > 10 else ""} are in the JSON but have '
            'no pixels in the PNG.')
    if check_areas:
        for segment in segments:
            area = png_area.get(segment['id'])
            if area is not None and 'area' in segment \
                    and segment['area'] != area:
                problems.append(
                    f'{name}: segment {segment["id"]} has area '
                    f'{segment["area"]} in the JSON but {area} pixels in '
                    'the PNG.')
    return problems
