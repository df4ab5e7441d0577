"""The UPSNet configs name the paper's settings: Table 6's ablation rows,
Table 7's UPSNet-C / -CP, the official R101-DCN schedule and training
scales, instance masks for box / mask AP, the caffe-style configs of the
released checkpoints."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from ...conftest import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'configs/upsnet')


def _cfg(name):
    return Config.fromfile(osp.join(CONFIGS, name))


# Table 6 (paper 4.5): (Pano., Our ICA, Loss Bal., RoI Loss, Unk.)
TABLE6 = {
    'upsnet-table6-row1_r50_fpn_8xb2-90k_coco.py': (0, 0, 0, 0, 0),
    'upsnet-table6-row2_r50_fpn_8xb2-90k_coco.py': (1, 0, 0, 0, 0),
    'upsnet-table6-row3_r50_fpn_8xb2-90k_coco.py': (1, 1, 0, 0, 0),
    'upsnet-table6-row4_r50_fpn_8xb2-90k_coco.py': (1, 1, 1, 0, 0),
    'upsnet-table6-row5_r50_fpn_8xb2-90k_coco.py': (1, 1, 1, 1, 0),
    'upsnet_r50_fpn_8xb2-90k_coco.py': (1, 1, 1, 1, 1),
}


@pytest.mark.parametrize('name', sorted(TABLE6))
def test_table6_rows(name):
    pano, ica, balance, roi, unknown = TABLE6[name]
    model = _cfg(name).model
    head = model.panoptic_fusion_head
    assert (head.loss_panoptic is not None) == bool(pano)
    if pano:
        assert head.loss_panoptic.loss_weight == 0.1
    assert model.test_cfg.panoptic.class_assignment == bool(ica)
    # loss balance: semantic 0.2 (panoptic 0.1); without it both 0.1
    assert model.semantic_head.loss_seg.loss_weight == (0.2 if balance
                                                        else 0.1)
    assert (model.semantic_head.loss_roi is not None) == bool(roi)
    assert head.with_unknown == bool(unknown)
    assert head.unknown_fraction == (0.3 if unknown else 0.0)
    # every row is evaluated with the panoptic head
    assert model.test_cfg.panoptic.fusion == 'unified'


def test_upsnet_c_and_cp_are_table7_heuristic_variants():
    c = _cfg('upsnet-c_r50_fpn_8xb2-90k_coco.py').model
    cp = _cfg('upsnet-cp_r50_fpn_8xb2-90k_coco.py').model
    assert c.panoptic_fusion_head.loss_panoptic is None
    assert cp.panoptic_fusion_head.loss_panoptic is not None
    for model in (c, cp):
        panoptic = model.test_cfg.panoptic
        assert panoptic.fusion == 'heuristic'
        assert panoptic.heuristic_score_thr == 0.6
        assert panoptic.heuristic_overlap == 0.3  # < 70 % free: skipped


def test_detection_paths_of_every_config():
    for path in glob.glob(osp.join(CONFIGS, '*.py')):
        test_cfg = Config.fromfile(path).model.test_cfg
        rcnn, panoptic = test_cfg.rcnn, test_cfg.panoptic
        assert rcnn.score_thr == 0.05 and rcnn.max_per_img == 100, path
        assert not rcnn.nms.get('class_agnostic', False), path
        assert panoptic.nms == dict(
            type='nms', iou_threshold=0.5, class_agnostic=True), path
        expected = 0.5 if 'synthetic' in path else 0.6
        assert panoptic.score_thr == expected, path


def test_coco_and_cityscapes_configs_return_instance_masks():
    for path in glob.glob(osp.join(CONFIGS, '*.py')):
        panoptic = Config.fromfile(path).model.test_cfg.panoptic
        expected = 'synthetic' not in path
        assert panoptic.get('with_instance_masks', False) == expected, path


def test_r101_dcn_trains_as_the_official_yaml():
    cfg = _cfg('upsnet_r101-dcn_fpn_8xb2-270k_coco.py')
    resize = cfg.train_dataloader.dataset.pipeline[2]
    assert resize.type == 'RandomChoiceResize' and resize.keep_ratio
    assert resize.scales == [(1333, short) for short in
                             (640, 672, 704, 736, 768, 800, 832)]
    assert cfg.train_cfg.max_iters == 270000
    assert cfg.param_scheduler[1].milestones == [210000, 250000]
    assert cfg.model.backbone.stage_with_dcn == (False, True, True, True)


@pytest.mark.parametrize('name,depth,dcn,neck', [
    ('upsnet_r50-caffe_fpn_8xb2-90k_coco.py', 50, False, 'GlobalContextFPN'),
    ('upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py', 101, True,
     'GlobalContextFPN'),
    ('upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py', 50, False, 'FPN'),
    ('upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py', 101, False,
     'FPN'),
])
def test_caffe_style_configs_of_the_released_checkpoints(
        name, depth, dcn, neck):
    model = _cfg(name).model
    assert model.backbone.style == 'caffe' and model.backbone.depth == depth
    assert model.backbone.init_cfg.checkpoint == \
        f'open-mmlab://detectron2/resnet{depth}_caffe'
    assert ('dcn' in model.backbone) == dcn
    assert model.neck.type == neck
    assert model.data_preprocessor.std == [1.0, 1.0, 1.0]
    assert not model.data_preprocessor.bgr_to_rgb
    assert model.rpn_head.anchor_generator.type == 'LegacyAnchorGenerator'
    assert model.semantic_head.norm_cfg == dict(type='FrozenBN')
    assert model.semantic_head.num_convs == (3 if 'coco.py' in name else 2)
