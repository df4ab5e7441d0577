"""Convert an official Panoptic FCN checkpoint (dvlab-research/PanopticFCN,
a detectron2 project) to mmpanoptic's ``PanopticFCN``.

The official file is ``{'model': state_dict, ...}`` (``.pth``, or a
detectron2 model-zoo ``.pkl`` of numpy arrays); other top-level entries
(``__author__``, ``matching_heuristics``, optimizer state, ...) are ignored.
Every official key is mapped; an unknown or a missing one is an error.

What changes besides the names:

- detectron2's ``FrozenBatchNorm2d`` (weight, bias, running_mean,
  running_var) becomes mmdet's ``BatchNorm2d`` with the same four tensors
  and ``num_batches_tracked = 0``; the model must freeze it
  (``requires_grad=False``, ``norm_eval=True``).
- The stuff map ``out_sem`` (54 channels on COCO) has the "all things"
  channel first in the official code (detectron2's panoptic-separated
  semantic labels: things 0, stuff 1..53); mmpanoptic puts it last (stuff
  ``s`` at ``s - T``, "things" at ``S``), so channel 0 moves to the end.
  Stuff and thing classes are both in COCO category-id order on both sides.
- The 1x1 ``embed_extractor`` convs become the ``nn.Linear`` kernel
  projections: (C_e, C_k, 1, 1) -> (C_e, C_k).
- Modulated deformable convs: the official ``offset_mask_conv`` output is
  split as ``o1, o2, mask = chunk(3)``, exactly as mmcv's
  ``ModulatedDeformConv2dPack.conv_offset``, so it is copied unchanged.

Pixel order and normalisation are not in the weights: use
``configs/panoptic_fcn/panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.py`` (or its
``-star`` 3x sibling for the deformable feature encoder), which reproduces
the official BGR input, mean and caffe-style ResNet.

Usage::

    python tools/model_converters/panoptic_fcn_to_mmpanoptic.py \
        panoptic_fcn_r50_1x.pth panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.pth

Both loaders unpickle arbitrary objects: convert only files you trust.
"""
import argparse
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor

# blocks per stage (res2..res5) of the ResNet depths mmdet builds
RESNET_STAGE_BLOCKS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
FROZEN_BN_TENSORS = ('weight', 'bias', 'running_mean', 'running_var')
GROUP_NORM_TENSORS = ('weight', 'bias')
FPN_STAGES = (2, 3, 4, 5)  # fpn_lateral{s}, fpn_output{s}, semantic p{s}
# official entries that carry no weights of the network
UNNEEDED_OFFICIAL_KEYS = frozenset({'pixel_mean', 'pixel_std'})
MAX_LISTED_KEYS = 20  # in error messages

TensorChange = Callable[[Tensor], Tensor]
# official key -> (mmpanoptic key, how the tensor changes)
KeyPlan = Dict[str, Tuple[str, TensorChange]]


class ConversionError(ValueError):
    """An official checkpoint that cannot be converted (names the source)."""


def unchanged(tensor: Tensor) -> Tensor:
    """The same tensor."""
    return tensor


def things_channel_last(tensor: Tensor) -> Tensor:
    """Stuff-map channels: official "things" at 0 and stuff 1..S ->
    stuff 0..S-1 and "things" at S (mmpanoptic's ``stuff_one_hot``)."""
    return torch.cat([tensor[1:], tensor[:1]])


def conv1x1_to_linear(tensor: Tensor) -> Tensor:
    """(C_out, C_in, 1, 1) 1x1 conv weight -> (C_out, C_in) linear one."""
    if tensor.dim() != 4 or tuple(tensor.shape[2:]) != (1, 1):
        raise ValueError(
            f'expected a 1x1 conv weight, got shape {tuple(tensor.shape)}')
    return tensor.flatten(1)


def _copy(plan: KeyPlan,
          official: str,
          ours: str,
          names: Tuple[str, ...],
          change: TensorChange = unchanged) -> None:
    """Plan ``official.<name> -> ours.<name>`` for each tensor name."""
    for name in names:
        plan[f'{official}.{name}'] = (f'{ours}.{name}', change)


def _plan_frozen_bn(plan: KeyPlan, official: str, ours: str) -> None:
    """A detectron2 FrozenBN becomes an mmdet BN with its running stats."""
    _copy(plan, official, ours, FROZEN_BN_TENSORS)


def _plan_resnet(plan: KeyPlan, stage_blocks: Tuple[int, ...]) -> None:
    """detectron2 ResNet (``backbone.bottom_up``) -> mmdet ``ResNet``."""
    stem = 'backbone.bottom_up.stem.conv1'
    _copy(plan, stem, 'backbone.conv1', ('weight', ))
    _plan_frozen_bn(plan, f'{stem}.norm', 'backbone.bn1')
    for stage, num_blocks in enumerate(stage_blocks, start=2):
        for block in range(num_blocks):
            official = f'backbone.bottom_up.res{stage}.{block}'
            ours = f'backbone.layer{stage - 1}.{block}'
            for conv in (1, 2, 3):
                _copy(plan, f'{official}.conv{conv}', f'{ours}.conv{conv}',
                      ('weight', ))
                _plan_frozen_bn(plan, f'{official}.conv{conv}.norm',
                                f'{ours}.bn{conv}')
            if block == 0:  # projection shortcut of every R50+ stage
                _copy(plan, f'{official}.shortcut', f'{ours}.downsample.0',
                      ('weight', ))
                _plan_frozen_bn(plan, f'{official}.shortcut.norm',
                                f'{ours}.downsample.1')


def _plan_fpn(plan: KeyPlan) -> None:
    """detectron2 FPN + LastLevelP6P7fromP5 -> mmdet ``FPN`` (6 outputs)."""
    for index, stage in enumerate(FPN_STAGES):
        _copy(plan, f'backbone.fpn_lateral{stage}',
              f'neck.lateral_convs.{index}.conv', ('weight', 'bias'))
        _copy(plan, f'backbone.fpn_output{stage}',
              f'neck.fpn_convs.{index}.conv', ('weight', 'bias'))
    # P6 = conv(P5 output), P7 = conv(ReLU(P6)): mmdet's 'on_output' convs
    for index, level in enumerate(('p6', 'p7'), start=len(FPN_STAGES)):
        _copy(plan, f'backbone.top_block.{level}',
              f'neck.fpn_convs.{index}.conv', ('weight', 'bias'))


def _plan_semantic_fpn(plan: KeyPlan) -> None:
    """Semantic FPN scale heads ``p2..p5`` (conv+GN, upsample, ...) ->
    ``SemanticFPNFeature.scale_branches`` (``ConvUpsample``)."""
    for index, stage in enumerate(FPN_STAGES):
        for conv in range(max(index, 1)):
            # official Sequential: conv at 2j, nn.Upsample at 2j + 1
            official = f'semantic_fpn.p{stage}.{2 * conv}'
            ours = (f'panoptic_head.semantic_fpn.scale_branches.{index}.'
                    f'conv.{conv}')
            _copy(plan, official, f'{ours}.conv', ('weight', ))
            _copy(plan, f'{official}.norm', f'{ours}.gn', GROUP_NORM_TENSORS)


def _plan_conv_stack(plan: KeyPlan, official: str, ours: str,
                     num_convs: int, deformable: bool,
                     with_norm: bool) -> None:
    """Official ``SingleHead`` convs ``<name>_head_{k}`` (k from 1) ->
    ``nn.Sequential`` of mmcv ``ConvModule`` (index k - 1).

    A plain conv is ``Conv2d`` with an optional ``norm``; a deformable one
    has ``offset_mask_conv`` and ``dcnv2`` (``ModulatedDeformConv``, the
    norm inside it), which become the ``ModulatedDeformConv2dPack``'s
    ``conv_offset`` and its own weight. Bias only without norm.
    """
    conv_tensors = ('weight', ) if with_norm else ('weight', 'bias')
    for k in range(num_convs):
        head = f'{official}_head_{k + 1}'
        module = f'{ours}.{k}'
        conv = f'{head}.dcnv2' if deformable else head
        _copy(plan, conv, f'{module}.conv', conv_tensors)
        if deformable:
            _copy(plan, f'{head}.offset_mask_conv',
                  f'{module}.conv.conv_offset', ('weight', 'bias'))
        if with_norm:
            _copy(plan, f'{conv}.norm', f'{module}.gn', GROUP_NORM_TENSORS)


def _plan_heads(plan: KeyPlan, num_convs: Dict[str, int],
                deformable: Dict[str, bool]) -> None:
    """Position head, kernel head, feature encoder and the generators."""
    _plan_conv_stack(plan, 'position_head.position_head.position_head',
                     'panoptic_head.position_head.convs',
                     num_convs['position_head'], deformable['position_head'],
                     with_norm=True)
    _copy(plan, 'position_head.out_inst',
          'panoptic_head.position_head.things_out', ('weight', 'bias'))
    _copy(plan, 'position_head.out_sem',
          'panoptic_head.position_head.stuff_out', ('weight', 'bias'),
          change=things_channel_last)
    _plan_conv_stack(plan, 'kernel_head.kernel_head.kernel_head',
                     'panoptic_head.kernel_head.convs',
                     num_convs['kernel_head'], deformable['kernel_head'],
                     with_norm=True)
    _copy(plan, 'kernel_head.out_conv', 'panoptic_head.kernel_head.out_conv',
          ('weight', 'bias'))
    # the official feature encoder has no norm (FEATURE_ENCODER.NORM '')
    _plan_conv_stack(plan, 'feature_encoder.encode_head.encode_head',
                     'panoptic_head.feature_encoder.convs',
                     num_convs['encode_head'], deformable['encode_head'],
                     with_norm=False)
    for kind in ('thing', 'stuff'):
        _copy(plan, f'{kind}_generator.embed_extractor',
              f'panoptic_head.{kind}_kernel_projection', ('weight', ),
              change=conv1x1_to_linear)
        _copy(plan, f'{kind}_generator.embed_extractor',
              f'panoptic_head.{kind}_kernel_projection', ('bias', ))


def _stage_blocks(keys: List[str], source: str) -> Tuple[int, ...]:
    """Blocks per stage res2..res5, checked against the known depths."""
    blocks = {stage: 0 for stage in FPN_STAGES}
    for key in keys:
        match = re.match(r'backbone\.bottom_up\.res(\d)\.(\d+)\.', key)
        if match and int(match.group(1)) in blocks:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks[stage], block + 1)
    stage_blocks = tuple(blocks[stage] for stage in FPN_STAGES)
    if stage_blocks not in RESNET_STAGE_BLOCKS.values():
        raise ConversionError(
            f'{source}: backbone.bottom_up has {stage_blocks} blocks in '
            f'res2..res5, not those of a ResNet of depth '
            f'{RESNET_STAGE_BLOCKS}')
    return stage_blocks


def _head_structure(keys: List[str], source: str
                    ) -> Tuple[Dict[str, int], Dict[str, bool]]:
    """Number of convs and deformable-ness of each official ``SingleHead``
    (the official config sets them; the checkpoint shows them)."""
    num_convs, deformable = {}, {}
    for name in ('position_head', 'kernel_head', 'encode_head'):
        pattern = re.compile(rf'(^|\.){name}_head_(\d+)\.')
        indices = {
            int(match.group(2))
            for match in map(pattern.search, keys) if match
        }
        if not indices:
            raise ConversionError(
                f'{source}: no {name}_head_<k> convs (is this a Panoptic '
                'FCN checkpoint?)')
        num_convs[name] = max(indices)
        deformable[name] = any(
            re.search(rf'(^|\.){name}_head_\d+\.dcnv2\.', key)
            for key in keys)
    return num_convs, deformable


def conversion_plan(official_keys: List[str],
                    source: str = 'checkpoint') -> KeyPlan:
    """Every official key of a Panoptic FCN with this backbone depth, head
    conv counts and deformable convs, mapped to mmpanoptic's key."""
    num_convs, deformable = _head_structure(official_keys, source)
    plan: KeyPlan = OrderedDict()
    _plan_resnet(plan, _stage_blocks(official_keys, source))
    _plan_fpn(plan)
    _plan_semantic_fpn(plan)
    _plan_heads(plan, num_convs, deformable)
    return plan


def _listing(keys: List[str]) -> str:
    """The first ``MAX_LISTED_KEYS`` keys and how many more there are."""
    listed = ', '.join(keys[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return f'[{listed}]' + (f' and {more} more' if more > 0 else '')


def convert(official: Dict[str, Tensor],
            source: str = 'checkpoint') -> 'OrderedDict[str, Tensor]':
    """Official Panoptic FCN state dict -> mmpanoptic ``PanopticFCN`` one.

    Args:
        official (dict): the official ``checkpoint['model']`` (tensors or
            numpy arrays).
        source (str): the checkpoint's name for error messages.

    Returns:
        OrderedDict: mmpanoptic state dict, ``num_batches_tracked`` included
        (loads with ``strict=True`` into a caffe-style R50 model).

    Raises:
        ConversionError: for unknown or missing official keys.
    """
    keys = list(official)
    plan = conversion_plan(keys, source)
    unknown = [
        key for key in keys
        if key not in plan and key not in UNNEEDED_OFFICIAL_KEYS
    ]
    missing = [key for key in plan if key not in official]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f'{len(unknown)} unknown official keys '
                            f'{_listing(unknown)}')
        if missing:
            problems.append(f'{len(missing)} missing official keys '
                            f'{_listing(missing)}')
        raise ConversionError(f'{source}: ' + '; '.join(problems))

    converted = OrderedDict()
    for official_key, (our_key, change) in plan.items():
        tensor = official[official_key]
        if isinstance(tensor, np.ndarray):  # detectron2 .pkl checkpoints
            tensor = torch.from_numpy(tensor)
        try:
            converted[our_key] = change(tensor)
        except ValueError as error:
            raise ConversionError(
                f'{source}: {official_key}: {error}') from error
        if our_key.endswith('.running_var'):  # a FrozenBN became a BN
            batch_norm = our_key[:-len('.running_var')]
            converted[f'{batch_norm}.num_batches_tracked'] = torch.tensor(0)
    return converted


def load_official_checkpoint(path: str) -> dict:
    """The official file's top-level dict (needs a ``'model'`` entry)."""
    if path.endswith('.pkl'):  # detectron2 model-zoo format, numpy arrays
        with open(path, 'rb') as file:
            checkpoint = pickle.load(file, encoding='latin1')
    else:
        # official .pth files may also hold optimizer/scheduler state
        checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    if not isinstance(checkpoint, dict) or 'model' not in checkpoint:
        found = (sorted(checkpoint)
                 if isinstance(checkpoint, dict) else type(checkpoint))
        raise ConversionError(
            f'{path}: expected a detectron2 checkpoint {{"model": '
            f'state_dict, ...}}, found {found}')
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert an official Panoptic FCN (detectron2) '
        'checkpoint to mmpanoptic')
    parser.add_argument('src', help='official .pth (or detectron2 .pkl)')
    parser.add_argument('dst', help='mmpanoptic checkpoint to write')
    args = parser.parse_args()
    checkpoint = load_official_checkpoint(args.src)
    state_dict = convert(checkpoint['model'], source=args.src)
    meta = dict(
        converted_from=osp.basename(args.src),
        converter='tools/model_converters/panoptic_fcn_to_mmpanoptic.py',
        ignored_entries=sorted(key for key in checkpoint if key != 'model'))
    torch.save(dict(state_dict=state_dict, meta=meta), args.dst)
    print(f'{len(state_dict)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
