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
