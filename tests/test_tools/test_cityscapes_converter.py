"""tools/dataset_converters/cityscapes.py on a fake gtFine tree: hand-counted
segments, and equality with cityscapesscripts' createPanopticImgs."""
import contextlib
import io
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mmpanoptic.datasets.cityscapes_panoptic import \
    CITYSCAPES_PANOPTIC_METAINFO
from mmpanoptic.utils import rgb2id
from ..conftest import load_script
from ..test_datasets.test_cityscapes_panoptic import (CONVERTER,
                                                      HAND_MADE_SEGMENTS,
                                                      hand_made_instance_ids,
                                                      write_fake_gtfine)


def _read_ids(path):
    return rgb2id(cv2.imread(path, cv2.IMREAD_UNCHANGED)[..., ::-1])


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cityscapes'))
    images = write_fake_gtfine(root)
    out = osp.join(root, 'gtFine')
    converter = load_script(CONVERTER)
    jsons = {
        split: converter.convert_split(root, split, out)
        for split in ('train', 'val')
    }
    return root, images, jsons


def test_hand_made_image(converted):
    root, _, jsons = converted
    coco = json.load(open(jsons['val']))
    image = coco['images'][0]
    assert image == dict(
        id=1,
        file_name='aachen/aachen_000000_000019_leftImg8bit.png',
        height=8,
        width=16)
    assert osp.isfile(osp.join(root, 'leftImg8bit', 'val', image['file_name']))
    annotation = coco['annotations'][0]
    assert annotation['image_id'] == 1
    assert annotation[
        'file_name'] == 'aachen_000000_000019_gtFine_panoptic.png'
    got = [(s['id'], s['category_id'], s['area'], s['bbox'], s['iscrowd'])
           for s in annotation['segments_info']]
    assert got == HAND_MADE_SEGMENTS
    # ignoreInEval classes (ego vehicle, parking, caravan) become VOID
    ids = hand_made_instance_ids()
    expected = np.where(np.isin(ids, [1, 9, 29000]), 0, ids)
    panoptic = _read_ids(
        osp.join(root, 'gtFine', 'cityscapes_panoptic_val',
                 annotation['file_name']))
    np.testing.assert_array_equal(panoptic, expected)
    # semantic map: things first, 255 ignore
    semantic = cv2.imread(
        osp.join(root, 'gtFine', 'cityscapes_panoptic_val_semantic',
                 'aachen_000000_000019_gtFine_semantic.png'),
        cv2.IMREAD_UNCHANGED)
    classes = CITYSCAPES_PANOPTIC_METAINFO['classes']
    label_of = {
        7: 'road',
        11: 'building',
        21: 'vegetation',
        23: 'sky',
        26: 'car',
        24: 'person'
    }
    label_ids = np.where(ids < 1000, ids, ids // 1000)
    expected = np.full(ids.shape, 255)
    for label_id, name in label_of.items():
        expected[label_ids == label_id] = classes.index(name)
    np.testing.assert_array_equal(semantic, expected)


def test_categories_things_first_with_label_ids(converted):
    _, _, jsons = converted
    categories = json.load(open(jsons['train']))['categories']
    assert [c['name'] for c in categories
            ] == list(CITYSCAPES_PANOPTIC_METAINFO['classes'])
    assert [c['isthing'] for c in categories] == [1] * 8 + [0] * 11
    assert [c['id'] for c in categories[:3]] == [24, 25, 26]


def test_equal_to_cityscapesscripts(converted, tmp_path):
    """Same PNG ids and same segments (id, category, area, bbox, crowd) as
    createPanopticImgs (label ids) on every image of both splits."""
    from cityscapesscripts.preparation.createPanopticImgs import \
        convert2panoptic
    root, images, jsons = converted
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(
            osp.join(root, 'gtFine'), str(tmp_path), setNames=['train', 'val'])
    for split in ('train', 'val'):
        official = json.load(
            open(tmp_path / f'cityscapes_panoptic_{split}.json'))
        ours = json.load(open(jsons[split]))
        official_by_name = {a['image_id']: a for a in official['annotations']}
        assert len(ours['annotations']) == len(official_by_name) == sum(
            key[0] == split for key in images)
        for annotation in ours['annotations']:
            name = annotation['file_name'][:-len('_gtFine_panoptic.png')]
            reference = official_by_name[name]
            assert annotation['segments_info'] == reference['segments_info']
            np.testing.assert_array_equal(
                _read_ids(
                    osp.join(root, 'gtFine', f'cityscapes_panoptic_{split}',
                             annotation['file_name'])),
                _read_ids(
                    str(tmp_path / f'cityscapes_panoptic_{split}' /
                        reference['file_name'])))


def test_unknown_label_id_is_an_error():
    converter = load_script(CONVERTER)
    with pytest.raises(ValueError, match='unknown Cityscapes label id 40'):
        converter.convert_instance_ids(np.full((2, 2), 40000), 'x.png')


def _instances(converted, split):
    root, _, jsons = converted
    path = osp.join(root, 'gtFine', f'cityscapes_instances_{split}.json')
    return json.load(open(path)), json.load(open(jsons[split]))


def test_instances_of_the_hand_made_image(converted):
    """One COCO instance annotation per thing segment, the crowd car group
    included as iscrowd 1, on the panoptic JSON's image ids."""
    from pycocotools import mask as mask_utils
    instances, panoptic = _instances(converted, 'val')
    assert instances['images'] == panoptic['images']
    assert instances['categories'] == [
        dict(id=label_id, name=name)
        for name, label_id in (('person', 24), ('rider', 25), ('car', 26),
                               ('truck', 27), ('bus', 28), ('train', 31),
                               ('motorcycle', 32), ('bicycle', 33))
    ]
    annotations = [a for a in instances['annotations'] if a['image_id'] == 1]
    got = [(a['category_id'], a['area'], a['bbox'], a['iscrowd'])
           for a in annotations]
    assert got == [(26, 4, [5, 6, 2, 2], 1), (24, 3, [4, 2, 1, 3], 0),
                   (26, 9, [1, 4, 3, 3], 0), (26, 9, [8, 5, 3, 3], 0)]
    ids = hand_made_instance_ids()
    for annotation, value in zip(annotations, (26, 24002, 26000, 26001)):
        np.testing.assert_array_equal(
            mask_utils.decode(annotation['segmentation']), ids == value)
    all_ids = [a['id'] for a in instances['annotations']]
    assert all_ids == list(range(1, len(all_ids) + 1))


def test_instances_equal_to_mmdet_converter(converted):
    """The annotations (category, crowd, area, box, RLE) of mmdet's
    tools/dataset_converters/cityscapes.py (``load_img_info``), image by
    image; only the ids differ (ours are the panoptic JSON's)."""
    import mmdet
    root, _, _ = converted
    mmdet_converter = load_script(
        osp.join(
            osp.dirname(mmdet.__file__), '.mim', 'tools', 'dataset_converters',
            'cityscapes.py'))

    def key(annotation):
        return (annotation['category_id'], annotation['iscrowd'],
                int(annotation['area']), [int(v) for v in annotation['bbox']],
                annotation['segmentation']['counts'])

    for split in ('train', 'val'):
        ours, _ = _instances(converted, split)
        by_image = {
            image['id']: image['file_name']
            for image in ours['images']
        }
        checked = 0
        for image_id, file_name in by_image.items():
            stem = osp.join(root, 'gtFine', split,
                            file_name[:-len('leftImg8bit.png')])
            reference = mmdet_converter.load_img_info(
                (osp.join(root, 'leftImg8bit', split,
                          file_name), stem + 'gtFine_instanceIds.png',
                 stem + 'gtFine_labelIds.png'))['anno_info']
            mine = [
                a for a in ours['annotations'] if a['image_id'] == image_id
            ]
            assert sorted(map(key, mine)) == sorted(map(key, reference))
            checked += len(mine)
        assert checked > 0
