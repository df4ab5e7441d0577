import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))),
    'configs', 'unifying')

# config -> (mask head, affinity head + matching loss, inference,
#            potential variant, detection cut-off, things, stuff)
EXPECTED = {
    'unifying_r50_fpn_4xb8-65k_cityscapes.py': (True, True, 'argmax', 'B', 0.5,
                                                8, 11),
    'unifying-nomask_r50_fpn_4xb8-65k_cityscapes.py': (False, True, 'argmax',
                                                       'B', 0.5, 8, 11),
    'unifying-nomask-gt-detections_r50_fpn_4xb8-65k_cityscapes.py':
    (False, True, 'argmax', 'B', 0.5, 8, 11),
    'unifying-table1-a_r50_fpn_4xb8-65k_cityscapes.py':
    (False, False, 'argmax', 'B', 0.5, 8, 11),
    'unifying-table1-b_r50_fpn_4xb8-65k_cityscapes.py': (False, True, 'argmax',
                                                         'B', 0.5, 8, 11),
    'unifying-table1-c1_r50_fpn_4xb8-65k_cityscapes.py':
    (True, False, 'heuristic', 'B', 0.5, 8, 11),
    'unifying-table1-c2_r50_fpn_4xb8-65k_cityscapes.py':
    (True, False, 'argmax', 'B', 0.5, 8, 11),
    'unifying-table1-d1_r50_fpn_4xb8-65k_cityscapes.py':
    (True, True, 'heuristic', 'B', 0.5, 8, 11),
    'unifying-table1-d2_r50_fpn_4xb8-65k_cityscapes.py': (True, True, 'argmax',
                                                          'B', 0.5, 8, 11),
    'unifying_r50_fpn_8xb2-200k_coco.py': (True, True, 'argmax', 'C', 0.75, 80,
                                           53),
    'unifying_r18_fpn_1xb4-800i_synthetic.py': (True, True, 'argmax', 'C',
                                                0.75, 4, 4),
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_configs_build_the_models_of_table_1(name):
    register_all_modules()
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpanoptic'):
        model = MODELS.build(cfg.model)
    (with_mask, with_affinity, inference, variant, score_thr, things,
     stuff) = EXPECTED[name]
    assert model.roi_head.with_mask == with_mask
    assert (model.affinity_head is not None) == with_affinity
    assert (model.loss_panoptic is not None) == with_affinity
    assert model.panoptic_fusion_head.inference == inference
    assert model.potential_head.variant == variant
    assert model.panoptic_fusion_head.score_thr == score_thr
    assert (model.num_things_classes, model.num_stuff_classes) == (things,
                                                                   stuff)
    assert model.roi_head.bbox_head.num_classes == things
    # Table H: only its top-row config trains on the GT boxes
    assert model.train_detections == ('ground_truth' if 'gt-detections'
                                      in name else 'predicted')


def test_cityscapes_schedule_and_losses_of_appendix_b():
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'unifying_r50_fpn_4xb8-65k_cityscapes.py'))
    assert cfg.train_cfg.max_iters == 65000
    assert cfg.param_scheduler[1].milestones == [40000, 55000]
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_dataloader.batch_size * 4 == 32
    assert cfg.model.semantic_head.loss_seg.type == 'mmseg.LovaszLoss'
    weights = (cfg.model.roi_head.bbox_head.loss_cls.loss_weight,
               cfg.model.semantic_head.loss_seg.loss_weight,
               cfg.model.loss_panoptic.loss_weight)
    assert weights == (0.25, 1.0, 1.0)
    coco = Config.fromfile(
        osp.join(CONFIG_DIR, 'unifying_r50_fpn_8xb2-200k_coco.py'))
    assert coco.train_cfg.max_iters == 200000
    assert coco.param_scheduler[1].milestones == [150000, 190000]
    weights = (coco.model.roi_head.bbox_head.loss_cls.loss_weight,
               coco.model.semantic_head.loss_seg.loss_weight,
               coco.model.loss_panoptic.loss_weight)
    assert weights == (1.0, 0.2, 0.1)
