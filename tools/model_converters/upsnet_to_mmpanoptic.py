"""Convert an official UPSNet checkpoint (uber-research/UPSNet, a raw
PyTorch state dict of ``resnet_upsnet``) to mmpanoptic's ``UPSNet``.

The result loads with ``strict=True`` into the model of the caffe-style
config of its released checkpoint (:data:`RELEASED_CONFIGS`):

- ``upsnet_resnet_50_coco_90000.pth``:
  ``upsnet_r50-caffe_fpn_8xb2-90k_coco.py``
- ``upsnet_resnet_101_dcn_coco_270000.pth``:
  ``upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py``
- ``upsnet_resnet_50_cityscapes_12000.pth``:
  ``upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py``
- ``upsnet_resnet_101_cityscapes_w_coco_3000.pth``:
  ``upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py``

``--coco-to-cityscapes`` turns a COCO model (e.g.
``upsnet_resnet_101_coco_pretrained_for_cityscapes.pth``) into the
initialisation of a Cityscapes one, with the class mapping of the official
``resnet_rcnn.load_state_dict`` (:data:`COCO_CLASS_OF_CITYSCAPES`).

What changes besides the key names:

- box head: the official classifier has the background at index 0, mmdet's
  last; the official box regression is class-specific with a background
  entry (81 x 4 outputs), mmdet's has none (80 x 4). A class-agnostic
  official head (2 x 4) becomes mmdet's ``reg_class_agnostic`` one (4).
- mask head: the official 81 mask channels lose the background's.
- semantic head: channels are reordered from the official stuff-first order
  to mmdet's things-first one; the bias of each deformable conv (mmcv's
  DeformConv2d has none) becomes the bias of the FrozenBN that follows it
  in the config (identity statistics: ``conv + bias`` exactly).
- FPN: the global-context ``nn.Linear(2048, 256)`` (COCO models) becomes
  a 1x1 conv; the Cityscapes models have none and a plain FPN.
- RPN: nothing but names. Both codes enumerate the anchors of a location
  ratio-major (0.5, 1, 2) with the same single scale, one sigmoid logit and
  4 deltas (dx, dy, dw, dh) per anchor, in the same channel order.
- backbone BN: kept as is (affine + running statistics, frozen);
  ``num_batches_tracked`` is filled in when the checkpoint predates it.

Usage::

    python tools/model_converters/upsnet_to_mmpanoptic.py \
        upsnet_resnet_50_coco_90000.pth upsnet_r50-caffe_fpn_8xb2-90k_coco.pth
    python tools/model_converters/upsnet_to_mmpanoptic.py \
        --coco-to-cityscapes \
        upsnet_resnet_101_coco_pretrained_for_cityscapes.pth coco-init.pth
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.datasets import CocoPanopticDataset
from torch import Tensor

from mmpanoptic.datasets.cityscapes_panoptic import \
    CITYSCAPES_PANOPTIC_METAINFO

StateDict = Dict[str, Tensor]

BN_STATS = ('weight', 'bias', 'running_mean', 'running_var')
BN_PARAMS = '|'.join(BN_STATS + ('num_batches_tracked', ))
FROZEN_BN_EPS = 1e-5  # mmdet's FrozenBN default, which the config uses

# (thing classes, ResNet depth, deformable backbone) -> config of the
# released checkpoint with that architecture
RELEASED_CONFIGS = {
    (80, 50, False):
    'configs/upsnet/upsnet_r50-caffe_fpn_8xb2-90k_coco.py',
    (80, 101, True):
    'configs/upsnet/upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py',
    (8, 50, False):
    'configs/upsnet/upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py',
    (8, 101, False):
    'configs/upsnet/upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py',
}
RESNET_DEPTHS = {6: 50, 23: 101}  # blocks in res4

# Class names in the official orders, which keep the category order within
# things and within stuff (init_coco.py; Cityscapes trainIds), as mmdet's
# COCO panoptic and mmpanoptic's Cityscapes metainfo: detection classes are
# the things after a background at 0, semantic channels stuff first.
COCO_THINGS = tuple(CocoPanopticDataset.METAINFO['thing_classes'])
COCO_STUFF = tuple(CocoPanopticDataset.METAINFO['stuff_classes'])
CITYSCAPES_THINGS = tuple(CITYSCAPES_PANOPTIC_METAINFO['thing_classes'])
CITYSCAPES_STUFF = tuple(CITYSCAPES_PANOPTIC_METAINFO['stuff_classes'])
CITYSCAPES_SEMANTIC_LAYERS = 2  # fcn_num_layers of the Cityscapes yamls
# the COCO class whose weights initialise each Cityscapes class when a COCO
# model is fine-tuned on Cityscapes (official resnet_rcnn.load_state_dict);
# None: drawn at random from the statistics of the COCO layer
COCO_CLASS_OF_CITYSCAPES = {
    'person': 'person',
    'rider': None,
    'car': 'car',
    'truck': 'truck',
    'bus': 'bus',
    'train': 'train',
    'motorcycle': 'motorcycle',
    'bicycle': 'bicycle',
    'road': 'road',
    'sidewalk': 'pavement-merged',
    'building': 'building-other-merged',
    'wall': 'wall-other-merged',
    'fence': 'fence-merged',
    'pole': None,
    'traffic light': 'traffic light',  # a COCO thing, a Cityscapes stuff
    'traffic sign': None,
    'vegetation': 'tree-merged',
    'terrain': None,
    'sky': 'sky-other-merged',
}


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
    (r'fpn\.fpn_p(?P<level>[2-5])_1x1\.(?P<param>weight|bias)',
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


def rename_key(official_key: str, with_global_context: bool = True) -> str:
    """The mmpanoptic key of an official one.

    Args:
        official_key (str): Key of the official state dict.
        with_global_context (bool): The model has the res5 global context
            (COCO): P5's lateral conv is wrapped by ``GlobalContextFPN``.

    Raises:
        ConversionError: if no rule knows the key.
    """
    for pattern, rule in KEY_RULES_COMPILED:
        match = pattern.fullmatch(official_key)
        if match:
            key = rule(match)
            if with_global_context and key.startswith(
                    'neck.lateral_convs.3.conv.'):
                key = key.replace('lateral_convs.3.',
                                  'lateral_convs.3.lateral.')
            return key
    raise ConversionError(f'unknown key {official_key!r}')


def has_global_context(state_dict: StateDict) -> bool:
    """Whether an official state dict has the res5 global context (COCO
    models; ``fpn_with_gap``)."""
    return any(key.startswith('fpn.fpn_gap.') for key in state_dict)


def expected_official_keys(state_dict: StateDict) -> List[str]:
    """Keys an official UPSNet must have, with the number of residual
    blocks per stage, of semantic-head layers (3 COCO, 2 Cityscapes) and
    the global context (COCO) read from ``state_dict``."""
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
    if has_global_context(state_dict):
        convs.append('fpn.fpn_gap')
    convs += [
        'rpn.conv_proposal.0', 'rpn.cls_score', 'rpn.bbox_pred', 'rcnn.fc6.0',
        'rcnn.fc7.0', 'rcnn.cls_score', 'rcnn.bbox_pred'
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


def strip_dataparallel(official: StateDict) -> StateDict:
    """Keys without the ``module.`` prefix of DataParallel."""
    return OrderedDict(
        (key[len('module.'):] if key.startswith('module.') else key, value)
        for key, value in official.items())


def convert(official: StateDict, missing_ok: Sequence[str] = ()) -> StateDict:
    """Convert an official UPSNet state dict (see the module docstring).

    Args:
        official (dict[str, Tensor]): ``resnet_upsnet.state_dict()``, keys
            optionally prefixed with ``module.`` (DataParallel).
        missing_ok (Sequence[str]): Official keys that may be missing (those
            :func:`coco_to_cityscapes` cannot provide).

    Returns:
        OrderedDict[str, Tensor]: the state dict of mmpanoptic's UPSNet
        built from the matching config (:func:`matching_config`).

    Raises:
        ConversionError: on a key that no rule knows, a missing key, or
            class counts that do not agree across the heads.
    """
    official = strip_dataparallel(official)
    with_global_context = has_global_context(official)
    unknown = []
    renamed = OrderedDict()
    for key, value in official.items():
        try:
            renamed[rename_key(key, with_global_context)] = value
        except ConversionError:
            unknown.append(key)
    if unknown:
        raise ConversionError(f'{len(unknown)} unknown keys: {unknown}')
    missing = [
        key for key in expected_official_keys(official)
        if key not in official and key not in missing_ok
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


def _official_detection_index(name: str, things: Tuple[str, ...]) -> int:
    return 1 + things.index(name)  # the background is 0


def _official_semantic_index(name: str, things: Tuple[str, ...],
                             stuff: Tuple[str, ...]) -> int:
    return stuff.index(name) if name in stuff else len(stuff) + \
        things.index(name)


def semantic_subnet_shapes(num_layers: int) -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of the official semantic subnet (``FCNSubNet``): 3x3
    deformable convs with offsets and biases, 256 channels up to the
    second-to-last layer, which goes to 128."""
    shapes, in_channels = OrderedDict(), 256
    for layer in range(num_layers):
        out_channels = 128 if layer >= num_layers - 2 else in_channels
        prefix = f'fcn_head.fcn_subnet.conv.{layer}.0'
        shapes[f'{prefix}.conv_offset.weight'] = (18, in_channels, 3, 3)
        shapes[f'{prefix}.conv_offset.bias'] = (18, )
        shapes[f'{prefix}.conv.weight'] = (out_channels, in_channels, 3, 3)
        shapes[f'{prefix}.conv.bias'] = (out_channels, )
        in_channels = out_channels
    return shapes


def coco_to_cityscapes(official: StateDict,
                       generator: Optional[torch.Generator] = None
                       ) -> Tuple[StateDict, List[str], List[str]]:
    """A COCO UPSNet as the initialisation of a Cityscapes one, in the
    official layout (convert it with :func:`convert` afterwards), as the
    official ``resnet_rcnn.load_state_dict`` loads it.

    The class-dependent rows of the box classifier, the class-specific box
    regression, the mask logits and the semantic logits are taken from the
    COCO class of :data:`COCO_CLASS_OF_CITYSCAPES`; a Cityscapes class
    without one gets values drawn from a normal distribution with the mean
    and standard deviation of the whole COCO tensor. What does not fit the
    Cityscapes model is dropped, as the official loader skips it: the res5
    global context, deformable offsets of the backbone, and the tensors of
    the 3-layer COCO semantic subnet whose shapes differ from the 2-layer
    Cityscapes one (only layer 0's offsets and layer 1's biases fit); the
    Cityscapes layers they leave without weights keep their
    initialisation.

    Args:
        official (dict[str, Tensor]): COCO ``resnet_upsnet.state_dict()``
            (81 detection classes, 133 semantic ones).
        generator (torch.Generator, optional): For the random rows.

    Returns:
        tuple[OrderedDict, list[str], list[str]]: the Cityscapes state dict
        (9 detection classes, 19 semantic ones), the dropped keys and the
        official Cityscapes keys it lacks (pass them to :func:`convert` as
        ``missing_ok``).

    Raises:
        ConversionError: if the model is not a COCO one.
    """
    official = strip_dataparallel(official)
    num_det = len(COCO_THINGS) + 1
    num_seg = len(COCO_THINGS) + len(COCO_STUFF)
    shapes = {
        'rcnn.cls_score.weight': num_det,
        'fcn_head.score.weight': num_seg
    }
    for key, rows in shapes.items():
        if key not in official or official[key].shape[0] != rows:
            actual = official[key].shape[0] if key in official else 'no'
            raise ConversionError(
                f'--coco-to-cityscapes needs a COCO model: {key} has '
                f'{actual} outputs, expected {rows}')
    det_source = [0] + [  # background, then the Cityscapes things
        None if COCO_CLASS_OF_CITYSCAPES[name] is None else
        _official_detection_index(COCO_CLASS_OF_CITYSCAPES[name],
                                  COCO_THINGS) for name in CITYSCAPES_THINGS
    ]
    seg_source = [
        None if COCO_CLASS_OF_CITYSCAPES[name] is None else
        _official_semantic_index(COCO_CLASS_OF_CITYSCAPES[name], COCO_THINGS,
                                 COCO_STUFF)
        for name in CITYSCAPES_STUFF + CITYSCAPES_THINGS
    ]
    # layer -> (COCO class of each Cityscapes class, number of COCO classes)
    by_classes = {
        'rcnn.cls_score': (det_source, num_det),
        'mask_branch.mask_score': (det_source, num_det),
        'fcn_head.score': (seg_source, num_seg),
    }
    if official['rcnn.bbox_pred.weight'].shape[0] == 4 * num_det:
        by_classes['rcnn.bbox_pred'] = (det_source, num_det)
    subnet = semantic_subnet_shapes(CITYSCAPES_SEMANTIC_LAYERS)
    mapped, dropped = OrderedDict(), []
    for key, value in official.items():
        misfit = key.startswith('fcn_head.fcn_subnet.') and (
            tuple(value.shape) != subnet.get(key))
        if key.startswith('fpn.fpn_gap.') or '.conv2_offset.' in key or \
                misfit:
            dropped.append(key)
            continue
        layer = key.rsplit('.', 1)[0]
        if layer in by_classes:
            value = _select_class_rows(value, *by_classes[layer], generator)
        mapped[key] = value
    missing = [key for key in subnet if key not in mapped]
    return mapped, dropped, missing


def _select_class_rows(value: Tensor, sources: List[Optional[int]],
                       num_classes: int,
                       generator: Optional[torch.Generator]) -> Tensor:
    """Rows (grouped per class, e.g. 4 box deltas) of the source classes;
    a None source is random with the statistics of the whole tensor."""
    grouped = value.reshape(num_classes, -1, *value.shape[1:])
    mean, std = value.float().mean(), value.float().std()
    random = torch.randn((len(sources), ) + grouped.shape[1:],
                         generator=generator) * std + mean
    picked = torch.stack([
        grouped[source] if source is not None else random[i]
        for i, source in enumerate(sources)
    ])
    return picked.to(value.dtype).reshape(-1, *value.shape[1:])


def matching_config(converted: StateDict) -> Optional[str]:
    """The released checkpoint's config with the architecture of a
    converted state dict (None when no release has it)."""
    num_things_classes = converted['roi_head.bbox_head.fc_cls.weight'].shape[
        0] - 1
    blocks = len({
        key.split('.')[2]
        for key in converted if key.startswith('backbone.layer3.')
    })
    deformable = any('.conv2.conv_offset.' in key for key in converted)
    return RELEASED_CONFIGS.get(
        (num_things_classes, RESNET_DEPTHS.get(blocks), deformable))


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
    parser.add_argument(
        '--coco-to-cityscapes',
        action='store_true',
        help='initialise a Cityscapes model from a COCO one (the official '
        'class mapping; classes without a COCO counterpart are random)')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the random rows')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        official = load_official(args.src)
        missing = []
        if args.coco_to_cityscapes:
            official, dropped, missing = coco_to_cityscapes(
                official, torch.Generator().manual_seed(args.seed))
            print(f'dropped {len(dropped)} tensors that do not fit the '
                  f'Cityscapes model: {dropped}')
            print(f'{len(missing)} Cityscapes tensors keep the config\'s '
                  f'initialisation (load with strict=False, as load_from '
                  f'does): {missing}')
        state_dict = convert(official, missing)
    except ConversionError as error:
        raise SystemExit(f'{args.src}: {error}') from None
    num_things_classes = state_dict['roi_head.bbox_head.fc_cls.weight'].shape[
        0] - 1
    num_classes = state_dict['semantic_head.conv_logits.weight'].shape[0]
    config = matching_config(state_dict)
    meta = dict(
        converted_from=osp.basename(args.src),
        source='uber-research/UPSNet',
        config=config,
        coco_to_cityscapes=args.coco_to_cityscapes,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_classes - num_things_classes,
        reg_class_agnostic=(
            state_dict['roi_head.bbox_head.fc_reg.weight'].shape[0] == 4))
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{args.src}: {len(official)} tensors -> {args.dst}: '
          f'{len(state_dict)} tensors')
    print(f'config: {config}' if config else
          'no released checkpoint has this architecture: use a config with '
          f'{num_things_classes} thing classes and the same backbone')
    if meta['reg_class_agnostic']:
        print('class-agnostic box regression: test with --cfg-options '
              'model.roi_head.bbox_head.reg_class_agnostic=True')


if __name__ == '__main__':
    main()
