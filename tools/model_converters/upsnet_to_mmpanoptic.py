"""Convert an official UPSNet checkpoint (uber-research/UPSNet, a raw
PyTorch state dict of ``resnet_upsnet``) to mmpanoptic's ``UPSNet``.

The result loads with ``strict=True`` into the model of
``configs/upsnet/upsnet_r50-caffe_fpn_1x_coco.py`` (COCO, R50-FPN with the
res5 global context). What changes besides the key names:

- box head: the official classifier has the background at index 0, mmdet's
  last; the official box regression is class-specific with a background
  entry (81 x 4 outputs), mmdet's has none (80 x 4). A class-agnostic
  official head (2 x 4) becomes mmdet's ``reg_class_agnostic`` one (4).
- mask head: the official 81 mask channels lose the background's.
- semantic head: channels are reordered from the official stuff-first order
  to mmdet's things-first one; the bias of each deformable conv (mmcv's
  DeformConv2d has none) becomes the bias of the FrozenBN that follows it
  in the config (identity statistics: ``conv + bias`` exactly).
- FPN: the global-context ``nn.Linear(2048, 256)`` becomes a 1x1 conv.
- RPN: nothing but names. Both codes enumerate the anchors of a location
  ratio-major (0.5, 1, 2) with the same single scale, one sigmoid logit and
  4 deltas (dx, dy, dw, dh) per anchor, in the same channel order.
- backbone BN: kept as is (affine + running statistics, frozen);
  ``num_batches_tracked`` is filled in when the checkpoint predates it.

Usage::

    python tools/model_converters/upsnet_to_mmpanoptic.py \
        upsnet_resnet_50_coco_90000.pth upsnet_r50-caffe_fpn_1x_coco.pth
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor

StateDict = Dict[str, Tensor]

BN_STATS = ('weight', 'bias', 'running_mean', 'running_var')
BN_PARAMS = '|'.join(BN_STATS + ('num_batches_tracked', ))
FROZEN_BN_EPS = 1e-5  # mmdet's FrozenBN default, which the config uses
TARGET_CONFIG = 'configs/upsnet/upsnet_r50-caffe_fpn_1x_coco.py'


class ConversionError(ValueError):
    """The checkpoint is not an official UPSNet model this script knows."""


def _stage(match: re.Match) -> str:
    """mmdet ResNet layer of an official stage: res2 -> layer1."""
    return f'backbone.layer{int(match["stage"]) - 1}.{match["block"]}'


# official key -> mmpanoptic key; every official key must match one rule
KEY_RULES: List[Tuple[str, Callable[[re.Match], str]]] = [
    (r'resnet_backbone\.conv1\.conv1\.weight',
     lambda m: 'backbone.conv1.weight'),
    (rf'resnet_backbone\.conv1\.bn1\.(?P<param>{BN_PARAMS})',
     lambda m: f'backbone.bn1.{m["param"]}'),
    (r'resnet_backbone\.res(?P<stage>[2-5])\.layers\.(?P<block>\d+)\.'
     r'(?P<layer>conv[123]|downsample\.0)\.weight',
     lambda m: f'{_stage(m)}.{m["layer"]}.weight'),
    (r'resnet_backbone\.res(?P<stage>[2-5])\.layers\.(?P<block>\d+)\.'
     rf'(?P<layer>bn[123]|downsample\.1)\.(?P<param>{BN_PARAMS})',
     lambda m: f'{_stage(m)}.{m["layer"]}.{m["param"]}'),
    # R101-DCN: the offsets of a DCNBottleneck's deformable conv2
    (r'resnet_backbone\.res(?P<stage>[2-5])\.layers\.(?P<block>\d+)\.'
     r'conv2_offset\.(?P<param>weight|bias)',
     lambda m: f'{_stage(m)}.conv2.conv_offset.{m["param"]}'),
    # P5's lateral is wrapped with the global context (GlobalContextFPN)
    (r'fpn\.fpn_p5_1x1\.(?P<param>weight|bias)',
     lambda m: f'neck.lateral_convs.3.lateral.conv.{m["param"]}'),
    (r'fpn\.fpn_p(?P<level>[2-4])_1x1\.(?P<param>weight|bias)',
     lambda m: f'neck.lateral_convs.{int(m["level"]) - 2}.conv.{m["param"]}'),
    (r'fpn\.fpn_p(?P<level>[2-5])\.(?P<param>weight|bias)',
     lambda m: f'neck.fpn_convs.{int(m["level"]) - 2}.conv.{m["param"]}'),
    (r'fpn\.fpn_gap\.(?P<param>weight|bias)',
     lambda m: f'neck.lateral_convs.3.context.conv.{m["param"]}'),
    (r'rpn\.conv_proposal\.0\.(?P<param>weight|bias)',
     lambda m: f'rpn_head.rpn_conv.{m["param"]}'),
    (r'rpn\.cls_score\.(?P<param>weight|bias)',
     lambda m: f'rpn_head.rpn_cls.{m["param"]}'),
    (r'rpn\.bbox_pred\.(?P<param>weight|bias)',
     lambda m: f'rpn_head.rpn_reg.{m["param"]}'),
    (r'rcnn\.fc(?P<fc>[67])\.0\.(?P<param>weight|bias)',
     lambda m: f'roi_head.bbox_head.shared_fcs.{int(m["fc"]) - 6}.{m["param"]}'
     ),
    (r'rcnn\.cls_score\.(?P<param>weight|bias)',
     lambda m: f'roi_head.bbox_head.fc_cls.{m["param"]}'),
    (r'rcnn\.bbox_pred\.(?P<param>weight|bias)',
     lambda m: f'roi_head.bbox_head.fc_reg.{m["param"]}'),
    (r'mask_branch\.mask_conv(?P<conv>[1-4])\.0\.(?P<param>weight|bias)',
     lambda m:
     f'roi_head.mask_head.convs.{int(m["conv"]) - 1}.conv.{m["param"]}'),
    (r'mask_branch\.mask_deconv1\.0\.(?P<param>weight|bias)',
     lambda m: f'roi_head.mask_head.upsample.{m["param"]}'),
    (r'mask_branch\.mask_score\.(?P<param>weight|bias)',
     lambda m: f'roi_head.mask_head.conv_logits.{m["param"]}'),
    (r'fcn_head\.fcn_subnet\.conv\.(?P<layer>\d+)\.0\.conv_offset\.'
     r'(?P<param>weight|bias)', lambda m:
     f'semantic_head.subnet.{m["layer"]}.conv.conv_offset.{m["param"]}'),
    (r'fcn_head\.fcn_subnet\.conv\.(?P<layer>\d+)\.0\.conv\.weight',
     lambda m: f'semantic_head.subnet.{m["layer"]}.conv.weight'),
    # the deformable conv's bias: a FrozenBN's bias, see _deform_bias_as_bn
    (r'fcn_head\.fcn_subnet\.conv\.(?P<layer>\d+)\.0\.conv\.bias',
     lambda m: f'semantic_head.subnet.{m["layer"]}.bn.bias'),
    (r'fcn_head\.score\.(?P<param>weight|bias)',
     lambda m: f'semantic_head.conv_logits.{m["param"]}'),
]
KEY_RULES_COMPILED = [(re.compile(pattern), rule)
                      for pattern, rule in KEY_RULES]


def rename_key(official_key: str) -> str:
    """The mmpanoptic key of an official one.

    Raises:
        ConversionError: if no rule knows the key.
    """
    for pattern, rule in KEY_RULES_COMPILED:
        match = pattern.fullmatch(official_key)
        if match:
            return rule(match)
    raise ConversionError(f'unknown key {official_key!r}')


def expected_official_keys(state_dict: StateDict) -> List[str]:
    """Keys an official COCO UPSNet must have, with the number of residual
    blocks per stage and of semantic-head layers read from ``state_dict``
    (R50 and R101, 3 layers on COCO)."""
    keys = ['resnet_backbone.conv1.conv1.weight']
    keys += [f'resnet_backbone.conv1.bn1.{stat}' for stat in BN_STATS]
    for stage in range(2, 6):
        prefix = f'resnet_backbone.res{stage}.layers'
        num_blocks = _count_indexed(state_dict, prefix)
        for block in range(max(num_blocks, 1)):
            layers = ['conv1', 'conv2', 'conv3']
            norms = ['bn1', 'bn2', 'bn3']
            if block == 0:
                layers.append('downsample.0')
                norms.append('downsample.1')
            keys += [f'{prefix}.{block}.{layer}.weight' for layer in layers]
            keys += [
                f'{prefix}.{block}.{norm}.{stat}' for norm in norms
                for stat in BN_STATS
            ]
    convs = [f'fpn.fpn_p{level}_1x1' for level in range(2, 6)]
    convs += [f'fpn.fpn_p{level}' for level in range(2, 6)]
    convs += [
        'fpn.fpn_gap', 'rpn.conv_proposal.0', 'rpn.cls_score', 'rpn.bbox_pred',
        'rcnn.fc6.0', 'rcnn.fc7.0', 'rcnn.cls_score', 'rcnn.bbox_pred'
    ]
    convs += [f'mask_branch.mask_conv{i}.0' for i in range(1, 5)]
    convs += ['mask_branch.mask_deconv1.0', 'mask_branch.mask_score']
    prefix = 'fcn_head.fcn_subnet.conv'
    for layer in range(max(_count_indexed(state_dict, prefix), 1)):
        convs += [
            f'{prefix}.{layer}.0.conv_offset', f'{prefix}.{layer}.0.conv'
        ]
    convs.append('fcn_head.score')
    keys += [
        f'{conv}.{param}' for conv in convs for param in ('weight', 'bias')
    ]
    return keys


def _count_indexed(state_dict: StateDict, prefix: str) -> int:
    """1 + the largest ``i`` of the keys ``<prefix>.<i>.*`` (0 if none)."""
    pattern = re.compile(re.escape(prefix) + r'\.(\d+)\.')
    indices = [int(m.group(1)) for m in map(pattern.match, state_dict) if m]
    return max(indices) + 1 if indices else 0


def stuff_first_to_things_first(num_things_classes: int,
                                num_stuff_classes: int) -> Tensor:
    """Official semantic channel of each mmdet channel: mmdet's thing ``t``
    is the official ``num_stuff_classes + t``, its stuff
    ``num_things_classes + s`` the official ``s`` (both orders keep the
    category order within things and within stuff; UPSNet's init_coco.py
    builds its order from COCO's)."""
    return torch.cat([
        torch.arange(num_stuff_classes,
                     num_stuff_classes + num_things_classes),
        torch.arange(num_stuff_classes)
    ])


def background_last(num_things_classes: int) -> Tensor:
    """Official class of each mmdet classifier output: things 1..T first,
    the background (official 0) last."""
    return torch.cat([
        torch.arange(1, num_things_classes + 1),
        torch.zeros(1, dtype=torch.long)
    ])


def _deform_bias_as_bn(bias: Tensor, prefix: str) -> StateDict:
    """A FrozenBN that adds ``bias``: unit scale, zero mean and the variance
    that makes ``running_var + eps`` one."""
    return OrderedDict([
        (f'{prefix}.weight', torch.ones_like(bias)),
        (f'{prefix}.bias', bias.clone()),
        (f'{prefix}.running_mean', torch.zeros_like(bias)),
        (f'{prefix}.running_var', torch.full_like(bias, 1 - FROZEN_BN_EPS)),
    ])


def convert(official: StateDict) -> StateDict:
    """Convert an official UPSNet COCO state dict (see the module docstring).

    Args:
        official (dict[str, Tensor]): ``resnet_upsnet.state_dict()``, keys
            optionally prefixed with ``module.`` (DataParallel).

    Returns:
        OrderedDict[str, Tensor]: the state dict of mmpanoptic's UPSNet
        built from ``configs/upsnet/upsnet_r50-caffe_fpn_1x_coco.py``.

    Raises:
        ConversionError: on a key that no rule knows, a missing key, or
            class counts that do not agree across the heads.
    """
    official = OrderedDict(
        (key[len('module.'):] if key.startswith('module.') else key, value)
        for key, value in official.items())
    unknown = []
    renamed = OrderedDict()
    for key, value in official.items():
        try:
            renamed[rename_key(key)] = value
        except ConversionError:
            unknown.append(key)
    if unknown:
        raise ConversionError(f'{len(unknown)} unknown keys: {unknown}')
    missing = [
        key for key in expected_official_keys(official) if key not in official
    ]
    if missing:
        raise ConversionError(f'{len(missing)} missing keys: {missing}')

    num_things_classes = official['rcnn.cls_score.weight'].shape[0] - 1
    num_stuff_classes = official['fcn_head.score.weight'].shape[
        0] - num_things_classes
    if num_stuff_classes < 0:
        raise ConversionError(
            'fcn_head.score has '
            f'{num_stuff_classes + num_things_classes} channels, fewer '
            f'than the {num_things_classes} thing classes of rcnn.cls_score')
    classes = background_last(num_things_classes)
    semantic_channels = stuff_first_to_things_first(num_things_classes,
                                                    num_stuff_classes)
    _check_rows(official, 'mask_branch.mask_score', num_things_classes + 1)
    box_deltas = official['rcnn.bbox_pred.weight'].shape[0]
    if box_deltas not in (4 * 2, 4 * (num_things_classes + 1)):
        raise ConversionError(
            f'rcnn.bbox_pred has {box_deltas} outputs: neither class-agnostic '
            f'(8) nor class-specific ({4 * (num_things_classes + 1)})')

    converted = OrderedDict()
    for key, value in renamed.items():
        if key.startswith('roi_head.bbox_head.fc_cls.'):
            value = value[classes]
        elif key.startswith('roi_head.bbox_head.fc_reg.'):
            value = value[4:]  # drop the background's (dx, dy, dw, dh)
        elif key.startswith('roi_head.mask_head.conv_logits.'):
            value = value[1:]  # drop the background channel
        elif key.startswith('semantic_head.conv_logits.'):
            value = value[semantic_channels]
        elif key == 'neck.lateral_convs.3.context.conv.weight':
            value = value[:, :, None, None]  # nn.Linear -> 1x1 conv
        elif key.startswith('semantic_head.subnet.') and '.bn.' in key:
            converted.update(_deform_bias_as_bn(value, key[:-len('.bias')]))
            continue
        converted[key] = value
    for key in list(converted):  # BN saved before PyTorch 0.4.1 lacks it
        if key.startswith('backbone.') and key.endswith('.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            converted.setdefault(counter, torch.tensor(0))
    return converted


def _check_rows(official: StateDict, module: str, rows: int) -> None:
    """Raise unless ``<module>.weight`` has ``rows`` outputs."""
    actual = official[f'{module}.weight'].shape[0]
    if actual != rows:
        raise ConversionError(
            f'{module} has {actual} outputs, expected {rows} (the '
            f'{rows - 1} classes of rcnn.cls_score plus the background)')


def load_official(path: str) -> StateDict:
    """The state dict saved by the official code at ``path``."""
    checkpoint = torch.load(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ConversionError(
            f'not a state dict but a {type(checkpoint).__name__}')
    if 'state_dict' in checkpoint:  # re-saved with a wrapper
        checkpoint = checkpoint['state_dict']
    return checkpoint


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Official UPSNet checkpoint -> mmpanoptic UPSNet')
    parser.add_argument('src', help='official checkpoint (raw state dict)')
    parser.add_argument('dst', help='where to save the converted checkpoint')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        official = load_official(args.src)
        state_dict = convert(official)
    except ConversionError as error:
        raise SystemExit(f'{args.src}: {error}') from None
    num_things_classes = state_dict['roi_head.bbox_head.fc_cls.weight'].shape[
        0] - 1
    num_classes = state_dict['semantic_head.conv_logits.weight'].shape[0]
    meta = dict(
        converted_from=osp.basename(args.src),
        source='uber-research/UPSNet',
        config=TARGET_CONFIG,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_classes - num_things_classes,
        reg_class_agnostic=(
            state_dict['roi_head.bbox_head.fc_reg.weight'].shape[0] == 4))
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{args.src}: {len(official)} tensors -> {args.dst}: '
          f'{len(state_dict)} tensors')
    if meta['reg_class_agnostic']:
        print('class-agnostic box regression: test with --cfg-options '
              'model.roi_head.bbox_head.reg_class_agnostic=True')


if __name__ == '__main__':
    main()
