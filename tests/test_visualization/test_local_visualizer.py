"""PanopticLocalVisualizer: GT | prediction pictures with known colours."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.registry import VISUALIZERS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.visualization import PanopticLocalVisualizer, class_shades

from ..conftest import REPO_ROOT

CLASSES = ('disc', 'box', 'sky', 'grass')  # things 0, 1; stuff 2, 3
PALETTE = [(220, 40, 40), (240, 190, 30), (120, 170, 235), (60, 140, 50)]
H, W = 64, 64


def _visualizer(**kwargs):
    visualizer = PanopticLocalVisualizer(name=f'vis{id(kwargs)}', **kwargs)
    visualizer.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    return visualizer


def _sample():
    """GT: sky above grass, one disc; prediction: all sky, two discs."""
    sem = np.full((H, W), 2, np.int64)
    sem[32:] = 3
    disc = np.zeros((H, W), bool)
    disc[40:64, 0:24] = True
    sem[disc] = 0
    sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
    sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(sem)[None])
    sample.gt_instances = InstanceData(
        labels=torch.tensor([0]),
        bboxes=torch.tensor([[0., 40., 24., 64.]]),
        masks=BitmapMasks(disc[None].astype(np.uint8), H, W))
    pred = np.full((H, W), 2, np.int64)
    pred[0:20, 40:64] = 0 + 1000  # disc, instance 1
    pred[40:64, 40:64] = 0 + 2000  # disc, instance 2
    pred[0:4, 0:4] = len(CLASSES)  # VOID
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(pred)[None])
    return sample


def _blend(image_value, color, alpha=0.7):
    return np.rint(image_value * (1 - alpha) + np.array(color) * alpha)


def test_gt_and_prediction_side_by_side(tmp_path):
    image = np.full((H, W, 3), 100, np.uint8)
    out_file = str(tmp_path / 'drawn.png')
    _visualizer().add_datasample('x', image, _sample(), out_file=out_file)
    drawn = cv2.imread(out_file)[..., ::-1]
    assert drawn.shape == (H, 2 * W, 3)
    gt, pred = drawn[:, :W].astype(int), drawn[:, W:].astype(int)
    # stuff in class colours (pixels away from contours and names)
    assert (np.abs(gt[10, 10] - _blend(100, PALETTE[2])) <= 1).all()
    assert (np.abs(gt[34, 50] - _blend(100, PALETTE[3])) <= 1).all()
    # the GT disc (only one of its class): the class colour itself
    assert (np.abs(gt[62, 1] - _blend(100, PALETTE[0])) <= 1).all()
    # predicted discs: the darker and the lighter shade, in instance order
    dark, light = class_shades(PALETTE[0], 2)
    assert (np.abs(pred[1, 62] - _blend(100, dark)) <= 1).all()
    assert (np.abs(pred[62, 62] - _blend(100, light)) <= 1).all()
    # VOID shows the image
    assert (pred[1, 1] == 100).all()
    # thin white contours between segments
    assert (gt[32, 50] == 255).all() and (gt[20, 50] != 255).any()
    assert (pred[20, 50] == 255).all()
    # class names on things: text pixels differ from the flat colour
    centre = pred[6:14, 44:60]
    assert (np.abs(centre - _blend(100, dark)).max(axis=-1) > 30).any()


def test_names_only_where_asked(tmp_path):
    image = np.full((H, W, 3), 100, np.uint8)
    sample = _sample()
    plain = _visualizer(draw_thing_names=False, contour_color=None)
    plain.add_datasample('x', image, sample, draw_gt=False,
                         out_file=str(tmp_path / 'a.png'))
    drawn = cv2.imread(str(tmp_path / 'a.png'))[..., ::-1].astype(int)
    assert drawn.shape == (H, W, 3)
    dark, _ = class_shades(PALETTE[0], 2)
    # without names and contours the whole disc is one flat shade
    assert (np.abs(drawn[0:20, 40:64] - _blend(100, dark)) <= 1).all()


def test_gt_panoptic_seg_is_used_when_present():
    sample = DetDataSample()
    sample.gt_panoptic_seg = PixelData(
        sem_seg=torch.tensor([[[2, 1000], [3, 4]]]))
    sample.gt_sem_seg = PixelData(sem_seg=torch.zeros(1, 2, 2))
    pan = PanopticLocalVisualizer.gt_panoptic_map(sample, 4)
    assert pan.tolist() == [[2, 1000], [3, 4]]


def test_without_classes_the_error_says_what_to_set():
    visualizer = PanopticLocalVisualizer(name='no_classes')
    with pytest.raises(ValueError, match='dataset_meta'):
        visualizer.add_datasample('x', np.zeros((H, W, 3), np.uint8),
                                  _sample())


def test_non_panoptic_samples_fall_back_to_mmdet():
    sample = DetDataSample()
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[4., 4., 30., 30.]]),
        labels=torch.tensor([1]),
        scores=torch.tensor([0.9]))
    visualizer = _visualizer()
    visualizer.add_datasample('x', np.zeros((H, W, 3), np.uint8), sample,
                              draw_gt=False)
    drawn = visualizer.get_image()
    assert drawn.shape == (H, W, 3) and drawn.any()  # the box was drawn


def test_registered_and_default_of_the_runtime():
    register_all_modules()
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/panoptic_fpn/'
                 'panoptic-fpn_r18_fpn_1xb4-800i_synthetic.py'))
    assert cfg.visualizer.type == 'PanopticLocalVisualizer'
    assert '_scope_' not in cfg.visualizer
    visualizer = VISUALIZERS.build(
        dict(cfg.visualizer, name='runtime_default'))
    assert isinstance(visualizer, PanopticLocalVisualizer)


def test_backends_receive_the_picture_as_in_the_val_hook(tmp_path):
    # DetVisualizationHook calls add_datasample without out_file: the
    # picture goes to the backends: vis_data/vis_image/<name>_<step>.png
    visualizer = PanopticLocalVisualizer(
        name='with_backend',
        vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    visualizer.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    image = np.full((H, W, 3), 100, np.uint8)
    visualizer.add_datasample('val_img', image, _sample(), step=3)
    saved = cv2.imread(
        str(tmp_path / 'vis_data' / 'vis_image' / 'val_img_3.png'))
    assert saved is not None and saved.shape == (H, 2 * W, 3)
