"""``PanopticFCN.predict``'s ``pred_instances`` evaluated by mmdet's
``CocoMetric`` (segm and bbox AP, as the official README reports AP):
binary masks at the original image size, scores, labels and boxes."""
import json
import os.path as osp
from unittest import mock

import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

register_all_modules()

THINGS = ('thing0', 'thing1', 'thing2', 'thing3')
STUFF = ('stuff0', 'stuff1', 'stuff2', 'stuff3')
LOW = -20.0


def box_annotation(ann_id, category_id, x, y, w, h):
    polygon = [x, y, x + w, y, x + w, y + h, x, y + h]
    return dict(
        id=ann_id,
        image_id=1,
        category_id=category_id,
        bbox=[x, y, w, h],
        area=w * h,
        iscrowd=0,
        segmentation=[polygon])


def write_ann_file(path):
    """One 128x128 image: two things of class 0 and one of class 1."""
    coco = dict(
        images=[dict(id=1, width=128, height=128, file_name='1.png')],
        categories=[
            dict(id=i + 1, name=name) for i, name in enumerate(THINGS)
        ],
        annotations=[
            box_annotation(1, 1, 0, 0, 64, 64),
            box_annotation(2, 1, 80, 80, 32, 32),
            box_annotation(3, 2, 80, 0, 48, 48)
        ])
    with open(path, 'w') as file:
        json.dump(coco, file)


def head_outputs(head):
    """Hand-made head outputs of a 64x64 input: two peaks on P3, class 0 at
    cell (1, 1) and class 1 at cell (1, 6), whose kernels select encoded
    channel 0 (1/4 cells rows 0-7, cols 0-7) and channel 1 (rows 0-5,
    cols 10-15); no stuff."""
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    kernel_channels = head.thing_kernel_projection.in_features
    encoded_channels = head.thing_kernel_projection.out_features
    centers = [torch.full((1, 4, *size), LOW) for size in sizes]
    stuff = [torch.full((1, 5, *size), LOW) for size in sizes]
    kernels = [torch.zeros(1, kernel_channels, *size) for size in sizes]
    centers[0][0, 0, 1, 1] = 5.0
    centers[0][0, 1, 1, 6] = 4.0
    kernels[0][0, 0, 1, 1] = 20.0
    kernels[0][0, 1, 1, 6] = 20.0
    encoded = -torch.ones(1, encoded_channels, 16, 16)
    encoded[0, 0, :8, :8] = 1.0
    encoded[0, 1, :6, 10:] = 1.0
    return centers, stuff, kernels, encoded


def test_pred_instances_evaluated_by_coco_metric(tmp_path):
    cfg = Config.fromfile(
        find_config('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    head = model.panoptic_head
    with torch.no_grad():  # projections keep the first C_e kernel channels
        for projection in (head.thing_kernel_projection,
                           head.stuff_kernel_projection):
            projection.weight.copy_(
                torch.eye(projection.out_features, projection.in_features))
            projection.bias.zero_()
    # the image was resized 128 -> 64 by the test pipeline
    sample = DetDataSample(
        metainfo=dict(
            img_id=1,
            img_shape=(64, 64),
            ori_shape=(128, 128),
            batch_input_shape=(64, 64),
            scale_factor=(0.5, 0.5)))
    with mock.patch.object(
            head, 'forward', return_value=head_outputs(head)), \
            torch.no_grad():
        result = model.predict(torch.zeros(1, 3, 64, 64), [sample])[0]

    instances = result.pred_instances
    assert instances.masks.dtype == torch.bool
    assert instances.masks.shape == (2, 128, 128)  # original size
    assert instances.labels.tolist() == [0, 1]
    # the 1/4 cells upsampled x4 then x2 (bilinear) and thresholded at 0.4
    # reach one original pixel beyond their footprint inside the image:
    # IoU 0.97 and 0.96 with the ground truth boxes below
    assert instances.bboxes.tolist() == [[0, 0, 65, 65], [79, 0, 128, 49]]
    assert (instances.scores > 0.2).all()

    ann_file = osp.join(tmp_path, 'instances.json')
    write_ann_file(ann_file)
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=THINGS + STUFF)
    metric.process({}, [result.to_dict()])
    metrics = metric.evaluate(size=1)
    # class 0: one of two objects found, precision 1 up to recall 0.5
    # (51 of the 101 recall points); class 1: found exactly (AP 1)
    expected = (51 / 101 + 1.0) / 2
    for kind in ('segm', 'bbox'):
        assert metrics[f'coco/{kind}_mAP'] == pytest.approx(expected, abs=1e-3)
        assert metrics[f'coco/{kind}_mAP_75'] == pytest.approx(
            expected, abs=1e-3)
