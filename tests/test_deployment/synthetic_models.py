"""Randomly initialised synthetic models for the deployment tests."""
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

FCN_CONFIG = 'panoptic-fcn_r18_fpn_synthetic'
# thresholds low enough that random weights give things and stuff
FCN_TEST_CFG = dict(stuff_score_thr=0.05, panoptic_thing_score_thr=0.0)


def synthetic_config(name: str = FCN_CONFIG, **test_cfg) -> Config:
    cfg = Config.fromfile(find_config(name))
    if test_cfg:
        cfg.model.test_cfg.update(test_cfg)
    return cfg


def random_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """``cfg.model`` with its own initialisation, seeded, in eval mode."""
    register_all_modules()
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def random_fcn_model(seed: int = 0) -> torch.nn.Module:
    """The synthetic Panoptic FCN with :data:`FCN_TEST_CFG` and kernel maps
    spread out (N(0, 0.3) output conv instead of N(0, 0.01)), so that random
    weights give several things of different shapes, stuff and VOID."""
    model = random_model(synthetic_config(**FCN_TEST_CFG), seed)
    torch.manual_seed(seed)
    model.panoptic_head.kernel_head.out_conv.weight.data.normal_(0, 0.3)
    return model


def sample(batch_shape, img_shape=None, ori_shape=None) -> DetDataSample:
    """A data sample of an image of ``img_shape`` padded to
    ``batch_shape``, originally ``ori_shape``."""
    img_shape = tuple(img_shape or batch_shape)
    return DetDataSample(
        metainfo=dict(
            batch_input_shape=tuple(batch_shape),
            pad_shape=tuple(batch_shape),
            img_shape=img_shape,
            ori_shape=tuple(ori_shape or img_shape),
            scale_factor=(1.0, 1.0)))
