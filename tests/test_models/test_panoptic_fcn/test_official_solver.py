"""The optimizer of the Panoptic FCN COCO and Cityscapes configs against
transcriptions of detectron2's solver (v0.3), which the official code
(dvlab-research/PanopticFCN, commit f4141c3, train.py and
configs/PanopticFCN-R50-*.yaml: BASE_LR 0.01, WEIGHT_DECAY 1e-4,
CLIP_GRADIENTS ENABLED with CLIP_VALUE 35) uses with detectron2's defaults
(detectron2 v0.3, detectron2/config/defaults.py, lines 525, 556-557 and
565: WEIGHT_DECAY_NORM 0, BIAS_LR_FACTOR 1, WEIGHT_DECAY_BIAS =
WEIGHT_DECAY, CLIP_TYPE 'value').

The detectron2 functions are transcribed here as references only.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config

register_all_modules()

CONFIGS = [
    'panoptic-fcn_r50_fpn_8xb2-90k_coco.py',
    'panoptic-fcn_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-400_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-512_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-600_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-star_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.py',
    'panoptic-fcn-star_r50-caffe_fpn_8xb2-270k_coco.py',
    'panoptic-fcn_r50_fpn_8xb4-65k_cityscapes.py'
]
NORM_MODULE_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                     nn.SyncBatchNorm, nn.GroupNorm, nn.InstanceNorm1d,
                     nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm,
                     nn.LocalResponseNorm)


def detectron2_param_groups(model,
                            base_lr,
                            weight_decay,
                            weight_decay_norm=0.0,
                            bias_lr_factor=1.0,
                            weight_decay_bias=None):
    """``get_default_optimizer_params`` (detectron2 v0.3,
    detectron2/solver/build.py, lines 111-179): parameter -> (lr, weight
    decay)."""
    if weight_decay_bias is None:
        weight_decay_bias = weight_decay
    groups = {}
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or param in groups:
                continue
            lr, decay = base_lr, weight_decay
            if isinstance(module, NORM_MODULE_TYPES):
                decay = weight_decay_norm
            elif name == 'bias':
                lr, decay = base_lr * bias_lr_factor, weight_decay_bias
            groups[param] = (lr, decay)
    return groups


def detectron2_clip_value(parameters, clip_value):
    """``_create_gradient_clipper`` with CLIP_TYPE 'value' (detectron2
    v0.3, detectron2/solver/build.py, lines 19-36)."""
    torch.nn.utils.clip_grad_value_(parameters, clip_value)


def small_model(config):
    """The config's head (every layer type of the model: convs with and
    without bias, GN, modulated deformable convs, linear projections) on
    32-channel features, and a BN layer as the trainable backbone BNs."""
    cfg = Config.fromfile(find_config(config))
    head_cfg = copy.deepcopy(cfg.model.panoptic_head)
    head_cfg.update(in_channels=32, num_things_classes=3, num_stuff_classes=2)
    for part in ('position_head', 'kernel_head', 'semantic_fpn'):
        head_cfg[part].update(
            channels=32, norm_cfg=dict(type='GN', num_groups=8))
    head_cfg.feature_encoder.update(channels=16)
    return nn.ModuleDict(
        dict(head=MODELS.build(head_cfg), bn=nn.BatchNorm2d(8))), cfg


@pytest.mark.parametrize('config', CONFIGS)
def test_param_groups_match_detectron2(config):
    """No weight decay on norm layers (GN and BN, weights and biases), the
    base lr and weight decay everywhere else, biases included."""
    model, cfg = small_model(config)
    assert model['head'].position_head.convs[0].conv.__class__.__name__ == (
        'GridSampleModulatedDeformConv2dPack')
    optim_cfg = cfg.optim_wrapper.optimizer
    expected = detectron2_param_groups(model, optim_cfg.lr,
                                       optim_cfg.weight_decay)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    found = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            found[param] = (group['lr'], group['weight_decay'])
    assert found == expected
    decays = {decay for _, decay in expected.values()}
    assert decays == {0.0, optim_cfg.weight_decay}


@pytest.mark.parametrize('config', [
    'panoptic-fcn_r50_fpn_8xb2-90k_coco.py',
    'panoptic-fcn_r50_fpn_8xb4-65k_cityscapes.py'
])
def test_gradient_clipping_is_detectron2_value_clipping(config):
    """Each gradient element clamped to +-35 (detectron2's default
    CLIP_TYPE 'value'), not the global norm: a hand-made gradient
    (50, -100, 3, 0.5) of norm 111.8 becomes (35, -35, 3, 0.5), and the SGD
    step (momentum 0.9, weight decay 1e-4) moves the weights by lr times
    that plus the decay, as detectron2's clipped SGD."""
    cfg = Config.fromfile(find_config(config))
    assert cfg.optim_wrapper.clip_grad == dict(type='value', clip_value=35)
    gradient = torch.tensor([50.0, -100.0, 3.0, 0.5])
    start = torch.tensor([1.0, 2.0, -3.0, 4.0])

    ours = nn.Linear(4, 1, bias=False)
    reference = nn.Linear(4, 1, bias=False)
    for layer in (ours, reference):
        with torch.no_grad():
            layer.weight.copy_(start[None])
    wrapper = build_optim_wrapper(ours, cfg.optim_wrapper)
    wrapper.update_params((ours.weight * gradient).sum())

    optim_cfg = cfg.optim_wrapper.optimizer
    sgd = torch.optim.SGD(
        reference.parameters(),
        lr=optim_cfg.lr,
        momentum=optim_cfg.momentum,
        weight_decay=optim_cfg.weight_decay)
    (reference.weight * gradient).sum().backward()
    detectron2_clip_value(reference.parameters(), 35)
    assert reference.weight.grad[0].tolist() == [35.0, -35.0, 3.0, 0.5]
    sgd.step()
    assert torch.equal(ours.weight, reference.weight)
    expected = start - optim_cfg.lr * (
        torch.tensor([35.0, -35.0, 3.0, 0.5]) + optim_cfg.weight_decay * start)
    assert torch.allclose(ours.weight[0], expected)
