"""tools/model_converters/upsnet_to_mmpanoptic.py on fake official UPSNet
checkpoints of the four released architectures (COCO R50, COCO R101-DCN,
Cityscapes R50, Cityscapes R101): every key and shape of uber-research/
UPSNet's ``resnet_upsnet`` (written from its models/*.py, not from our
model), random values; strict loading into the model of the matching
config, known answers for the class reorders, the COCO -> Cityscapes
mapping against a transcription of the official one, and the CLI."""
import os
import os.path as osp
import subprocess
import sys
from collections import OrderedDict
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

from ..conftest import REPO_ROOT, load_script

CONVERTER = osp.join(REPO_ROOT, 'tools', 'model_converters',
                     'upsnet_to_mmpanoptic.py')
CONFIG = osp.join(REPO_ROOT,
                  'configs/upsnet/upsnet_r50-caffe_fpn_8xb2-90k_coco.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1')

# upsnet/experiments/upsnet_resnet50_coco_*.yaml and config/config.py
NUM_CLASSES = 81  # 80 things + background at index 0
NUM_SEG_CLASSES = 133  # 53 stuff first, then the 80 things
NUM_ANCHORS = 3
R50_BLOCKS = (3, 4, 6, 3)
R101_BLOCKS = (3, 4, 23, 3)
# upsnet_resnet50_cityscapes_16gpu.yaml: 8 things + background, 19 trainIds
# (11 stuff first), 2 semantic layers, fpn_with_gap False
COCO = dict(num_classes=81, num_seg_classes=133, fcn_layers=3,
            global_context=True)
CITYSCAPES = dict(num_classes=9, num_seg_classes=19, fcn_layers=2,
                  global_context=False)


converter = load_script(osp.relpath(CONVERTER, REPO_ROOT))


def official_coco_r50_shapes() -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of ``resnet_upsnet(R50).state_dict()`` for COCO."""
    return official_shapes(R50_BLOCKS, **COCO)


def official_shapes(blocks=R50_BLOCKS,
                    num_classes=NUM_CLASSES,
                    num_seg_classes=NUM_SEG_CLASSES,
                    fcn_layers=3,
                    global_context=True,
                    deformable=False) -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of ``resnet_upsnet(blocks).state_dict()``; with
    ``deformable`` every block of res3-res5 is a DCNBottleneck
    (``backbone_with_dconv: 3``)."""
    shapes = OrderedDict()

    def conv(name, out_channels, in_channels, kernel, bias=True):
        shapes[f'{name}.weight'] = (out_channels, in_channels, kernel, kernel)
        if bias:
            shapes[f'{name}.bias'] = (out_channels, )

    def linear(name, out_features, in_features):
        shapes[f'{name}.weight'] = (out_features, in_features)
        shapes[f'{name}.bias'] = (out_features, )

    def batch_norm(name, channels):  # nn.BatchNorm2d, PyTorch >= 0.4.1
        for stat in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{stat}'] = (channels, )
        shapes[f'{name}.num_batches_tracked'] = ()

    # resnet.py: ResNetBackbone, the conv1 module, res_block of Bottlenecks
    conv('resnet_backbone.conv1.conv1', 64, 3, 7, bias=False)
    batch_norm('resnet_backbone.conv1.bn1', 64)
    for stage, planes, num_blocks in zip(range(2, 6), (64, 128, 256, 512),
                                         blocks):
        in_channels = planes * 2 if planes != 64 else planes
        for block in range(num_blocks):
            prefix = f'resnet_backbone.res{stage}.layers.{block}'
            conv(f'{prefix}.conv1', planes, in_channels, 1, bias=False)
            batch_norm(f'{prefix}.bn1', planes)
            if deformable and stage >= 3:  # DCNBottleneck
                conv(f'{prefix}.conv2_offset', 18, planes, 3)
            conv(f'{prefix}.conv2', planes, planes, 3, bias=False)
            batch_norm(f'{prefix}.bn2', planes)
            conv(f'{prefix}.conv3', planes * 4, planes, 1, bias=False)
            batch_norm(f'{prefix}.bn3', planes * 4)
            if block == 0:
                conv(f'{prefix}.downsample.0', planes * 4, in_channels, 1,
                     bias=False)
                batch_norm(f'{prefix}.downsample.1', planes * 4)
            in_channels = planes * 4
    # fpn.py: with_norm='none' (P6 is a max-pool), fpn_with_gap on COCO
    for level, in_channels in zip(range(2, 6), (256, 512, 1024, 2048)):
        conv(f'fpn.fpn_p{level}_1x1', 256, in_channels, 1)
        conv(f'fpn.fpn_p{level}', 256, 256, 3)
    if global_context:
        linear('fpn.fpn_gap', 256, 2048)
    # rpn.py
    conv('rpn.conv_proposal.0', 256, 256, 3)
    conv('rpn.cls_score', NUM_ANCHORS, 256, 1)
    conv('rpn.bbox_pred', NUM_ANCHORS * 4, 256, 1)
    # rcnn.py: RCNN (7x7 pooling, class-specific regression), MaskBranch
    linear('rcnn.fc6.0', 1024, 256 * 7 * 7)
    linear('rcnn.fc7.0', 1024, 1024)
    linear('rcnn.cls_score', num_classes, 1024)
    linear('rcnn.bbox_pred', num_classes * 4, 1024)
    for i in range(1, 5):
        conv(f'mask_branch.mask_conv{i}.0', 256, 256, 3)
    shapes['mask_branch.mask_deconv1.0.weight'] = (256, 256, 2, 2)
    shapes['mask_branch.mask_deconv1.0.bias'] = (256, )
    conv('mask_branch.mask_score', num_classes, 256, 1)
    # fcn.py: FCNSubNet of DeformConvWithOffset (offsets 2 x 3 x 3, bias);
    # the second-to-last layer goes 256 -> 128
    channels = [(256, 256)] * (fcn_layers - 2) + [(256, 128), (128, 128)]
    for layer, (in_channels, out_channels) in enumerate(channels):
        prefix = f'fcn_head.fcn_subnet.conv.{layer}.0'
        conv(f'{prefix}.conv_offset', 18, in_channels, 3)
        conv(f'{prefix}.conv', out_channels, in_channels, 3)
    conv('fcn_head.score', num_seg_classes, 4 * 128, 1)
    return shapes


def fake_official(compact: bool = False,
                  shapes: Dict[str, Tuple[int, ...]] = None,
                  compact_prefix: str = '') -> Dict[str, torch.Tensor]:
    """Random values for every official key (of the COCO R50 unless
    ``shapes``); ``compact``: one value per tensor whose key starts with
    ``compact_prefix``, expanded (a file of a few kB, little memory)."""
    generator = torch.Generator().manual_seed(0)
    state_dict = OrderedDict()
    if shapes is None:
        shapes = official_coco_r50_shapes()
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            state_dict[key] = torch.randint(1, 1000, (), generator=generator)
        elif compact and key.startswith(compact_prefix):
            state_dict[key] = torch.randn(1, generator=generator).expand(shape)
        else:
            state_dict[key] = torch.randn(shape, generator=generator)
    return state_dict


@pytest.fixture(scope='module')
def official():
    return fake_official()


@pytest.fixture(scope='module')
def converted(official):
    return converter.convert(official)


@pytest.fixture(scope='module')
def model(converted):
    """The model of the matching config with the converted weights."""
    register_all_modules()
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def test_loads_strictly_into_the_matching_config(official, converted, model):
    state = model.state_dict()
    assert state.keys() == converted.keys()
    assert all(
        torch.equal(state[key], value) for key, value in converted.items())
    # the backbone BNs come from the official ones, counters included
    assert torch.equal(state['backbone.layer4.2.bn3.running_var'],
                       official['resnet_backbone.res5.layers.2.bn3.'
                                'running_var'])
    assert state['backbone.bn1.num_batches_tracked'] == official[
        'resnet_backbone.conv1.bn1.num_batches_tracked']


def test_caffe_style_conv_arrives_unchanged(official, model):
    # caffe style: the stride-2 conv of res3's first block is the 1x1 conv1
    conv1 = model.backbone.layer2[0].conv1
    assert conv1.kernel_size == (1, 1) and conv1.stride == (2, 2)
    assert model.backbone.layer2[0].conv2.stride == (1, 1)
    assert torch.equal(conv1.weight,
                       official['resnet_backbone.res3.layers.0.conv1.weight'])
    assert torch.equal(model.backbone.conv1.weight,
                       official['resnet_backbone.conv1.conv1.weight'])


def test_background_moves_from_first_to_last(official, model):
    bbox_head = model.roi_head.bbox_head
    cls_weight = official['rcnn.cls_score.weight']
    assert bbox_head.fc_cls.weight.shape == (81, 1024)
    assert torch.equal(bbox_head.fc_cls.weight[80], cls_weight[0])
    assert torch.equal(bbox_head.fc_cls.weight[0], cls_weight[1])  # person
    assert torch.equal(bbox_head.fc_cls.weight[79], cls_weight[80])
    assert torch.equal(bbox_head.fc_cls.bias[80],
                       official['rcnn.cls_score.bias'][0])
    # class-specific regression: the background's 4 deltas are dropped
    assert not bbox_head.reg_class_agnostic
    reg_weight = official['rcnn.bbox_pred.weight']
    assert bbox_head.fc_reg.weight.shape == (80 * 4, 1024)
    assert torch.equal(bbox_head.fc_reg.weight[0:4], reg_weight[4:8])
    assert torch.equal(bbox_head.fc_reg.weight[-4:], reg_weight[-4:])
    assert torch.equal(bbox_head.fc_reg.bias[0:4],
                       official['rcnn.bbox_pred.bias'][4:8])
    # mask logits: the background channel is dropped
    mask_logits = model.roi_head.mask_head.conv_logits
    assert mask_logits.weight.shape[0] == 80
    assert torch.equal(mask_logits.weight[0],
                       official['mask_branch.mask_score.weight'][1])
    assert torch.equal(mask_logits.bias[79],
                       official['mask_branch.mask_score.bias'][80])


def test_semantic_channels_go_things_first(official, model):
    weight = model.semantic_head.conv_logits.weight
    bias = model.semantic_head.conv_logits.bias
    official_weight = official['fcn_head.score.weight']
    # official: 53 stuff (banner, ...) then 80 things (person, ...)
    assert torch.equal(weight[0], official_weight[53])  # person
    assert torch.equal(weight[79], official_weight[132])  # toothbrush
    assert torch.equal(weight[80], official_weight[0])  # banner
    assert torch.equal(weight[132], official_weight[52])  # last stuff
    assert torch.equal(bias[80], official['fcn_head.score.bias'][0])


def test_deformable_conv_bias_is_added_exactly(official, model):
    layer = model.semantic_head.subnet[1]  # 256 -> 128
    bias = official['fcn_head.fcn_subnet.conv.1.0.conv.bias']
    assert torch.equal(layer.conv.weight,
                       official['fcn_head.fcn_subnet.conv.1.0.conv.weight'])
    assert torch.equal(
        layer.conv.conv_offset.bias,
        official['fcn_head.fcn_subnet.conv.1.0.conv_offset.bias'])
    x = torch.randn(1, 256, 6, 7)
    with torch.no_grad():
        expected = F.relu(layer.conv(x) + bias[:, None, None])
        assert torch.allclose(layer(x), expected, rtol=1e-6, atol=1e-5)


def test_global_context_linear_becomes_1x1_conv(official, model):
    context = model.neck.lateral_convs[3].context.conv
    assert torch.equal(context.weight[:, :, 0, 0],
                       official['fpn.fpn_gap.weight'])
    assert torch.equal(model.neck.lateral_convs[3].lateral.conv.weight,
                       official['fpn.fpn_p5_1x1.weight'])
    assert torch.equal(model.neck.lateral_convs[0].conv.weight,
                       official['fpn.fpn_p2_1x1.weight'])
    assert torch.equal(model.rpn_head.rpn_cls.weight,
                       official['rpn.cls_score.weight'])


def test_dataparallel_prefix_and_missing_counters(official, model):
    old = OrderedDict(
        (f'module.{key}', value) for key, value in official.items()
        if not key.endswith('num_batches_tracked'))
    converted = converter.convert(old)
    # what strict loading checks, without changing the shared model
    assert {key: value.shape for key, value in converted.items()} == {
        key: value.shape for key, value in model.state_dict().items()}
    assert converted['backbone.layer1.0.bn1.num_batches_tracked'] == 0


def test_deformable_backbone_offsets_find_their_conv():
    # R101-DCN (backbone_with_dconv: 3): DCNBottleneck's conv2_offset is a
    # Conv2d(planes, 18, 3) next to conv2, mmdet's DCN owns it as conv_offset
    register_all_modules()
    backbone = MODELS.build(
        dict(
            type='ResNet',
            depth=50,
            style='caffe',
            dcn=dict(type='DCN', deform_groups=1, fallback_on_stride=False),
            stage_with_dcn=(False, True, True, True)))
    state = backbone.state_dict()
    for official_key, shape in (
        ('resnet_backbone.res3.layers.1.conv2_offset.weight',
         (18, 128, 3, 3)),
        ('resnet_backbone.res5.layers.2.conv2_offset.bias', (18, )),
        ('resnet_backbone.res4.layers.0.conv2.weight', (256, 256, 3, 3)),
    ):
        key = converter.rename_key(official_key)
        assert key.startswith('backbone.')
        assert state[key[len('backbone.'):]].shape == shape


def test_unknown_key_is_named(official):
    for key in ('rcnn.extra_fc.weight',
                'resnet_backbone.res2.layers.0.conv1.bias'):
        with pytest.raises(converter.ConversionError, match=key):
            converter.convert(dict(official, **{key: torch.zeros(1)}))


def test_missing_key_is_named(official):
    incomplete = OrderedDict(official)
    del incomplete['fpn.fpn_gap.bias']
    del incomplete['resnet_backbone.res4.layers.5.bn2.running_mean']
    with pytest.raises(converter.ConversionError) as error:
        converter.convert(incomplete)
    assert 'fpn.fpn_gap.bias' in str(error.value)
    assert 'resnet_backbone.res4.layers.5.bn2.running_mean' in str(
        error.value)


def test_cli_end_to_end(tmp_path):
    official = fake_official(compact=True)
    src, dst = tmp_path / 'upsnet_coco.pth', tmp_path / 'converted.pth'
    torch.save(official, src)
    assert src.stat().st_size < 2**20
    result = subprocess.run(
        [sys.executable, CONVERTER, str(src), str(dst)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    checkpoint = torch.load(dst)
    assert checkpoint['meta']['num_things_classes'] == 80
    assert checkpoint['meta']['num_stuff_classes'] == 53
    expected = converter.convert(official)
    assert checkpoint['state_dict'].keys() == expected.keys()
    assert all(torch.equal(checkpoint['state_dict'][key], value)
               for key, value in expected.items())

    official['rcnn.extra_fc.weight'] = torch.zeros(1)
    torch.save(official, src)
    result = subprocess.run(
        [sys.executable, CONVERTER, str(src), str(dst)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode != 0
    assert str(src) in result.stderr and 'rcnn.extra_fc.weight' in \
        result.stderr


def _build(config: str):
    register_all_modules()
    return MODELS.build(
        Config.fromfile(osp.join(REPO_ROOT, 'configs/upsnet', config)).model)


def _assert_loads_strictly(converted, config):
    model = _build(config)
    model.load_state_dict(converted, strict=True)
    return model


def test_cityscapes_r50_without_global_context():
    """``upsnet_resnet_50_cityscapes_12000.pth``: no fpn_gap, 2 semantic
    layers, 9 detection classes, 19 semantic channels (trainIds: 11 stuff,
    then the 8 things)."""
    official = fake_official(shapes=official_shapes(R50_BLOCKS, **CITYSCAPES))
    converted = converter.convert(official)
    assert converter.matching_config(converted) == \
        'configs/upsnet/upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py'
    model = _assert_loads_strictly(
        converted, 'upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py')
    assert torch.equal(model.neck.lateral_convs[3].conv.weight,
                       official['fpn.fpn_p5_1x1.weight'])
    weight = model.semantic_head.conv_logits.weight
    score = official['fcn_head.score.weight']
    assert torch.equal(weight[0], score[11])  # person
    assert torch.equal(weight[7], score[18])  # bicycle
    assert torch.equal(weight[8], score[0])  # road
    assert torch.equal(weight[18], score[10])  # sky
    cls = model.roi_head.bbox_head.fc_cls.weight
    assert cls.shape[0] == 9
    assert torch.equal(cls[8], official['rcnn.cls_score.weight'][0])
    assert torch.equal(cls[1], official['rcnn.cls_score.weight'][2])  # rider


def test_coco_r101_dcn():
    """``upsnet_resnet_101_dcn_coco_270000.pth``: 23 blocks in res4, every
    res3-res5 block deformable (backbone_with_dconv: 3)."""
    shapes = official_shapes(R101_BLOCKS, deformable=True, **COCO)
    official = fake_official(True, shapes, 'resnet_backbone.')
    converted = converter.convert(official)
    assert converter.matching_config(converted) == \
        'configs/upsnet/upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py'
    model = _assert_loads_strictly(
        converted, 'upsnet_r101-caffe-dcn_fpn_8xb2-270k_coco.py')
    offset = model.backbone.layer3[22].conv2.conv_offset
    assert torch.equal(
        offset.weight,
        official['resnet_backbone.res4.layers.22.conv2_offset.weight'])
    assert torch.equal(
        offset.bias,
        official['resnet_backbone.res4.layers.22.conv2_offset.bias'])


def official_coco_to_cityscapes(state_dict, own_shapes):
    """Transcription of ``resnet_rcnn.load_state_dict`` of uber-research/
    UPSNet, ``upsnet/models/resnet.py`` lines 221-296, loading a COCO
    checkpoint into a Cityscapes model whose keys and shapes are
    ``own_shapes``: the class mapping (lines 224-280, numpy's random numbers
    for the classes without a COCO counterpart) and the copy loop, which
    skips unexpected keys and shape mismatches (lines 282-295). Returns
    what is copied into the model."""
    state_dict = OrderedDict(state_dict)
    cls_map = {
        0: 0,  # background
        1: 1,  # person
        2: -1,  # rider, ignore
        3: 3,  # car
        4: 8,  # truck
        5: 6,  # bus
        6: 7,  # train
        7: 4,  # motorcycle
        8: 2,  # bicycle
    }
    for weight_name in [
            'rcnn.cls_score.weight', 'rcnn.cls_score.bias',
            'rcnn.bbox_pred.weight', 'rcnn.bbox_pred.bias',
            'mask_branch.mask_score.weight', 'mask_branch.mask_score.bias'
    ]:
        mean = state_dict[weight_name].mean().item()
        std = state_dict[weight_name].std().item()
        state_dict[weight_name] = state_dict[weight_name].view(
            *([81, -1] + list(state_dict[weight_name].shape[1:])))
        weight_blobs = ((np.random.randn(
            *([9] + list(state_dict[weight_name].shape[1:])))) * std +
                        mean).astype(np.float32)

        for i in range(9):
            cls = cls_map[i]
            if cls >= 0:
                weight_blobs[i] = state_dict[weight_name][cls]
        weight_blobs = weight_blobs.reshape(
            [-1] + list(state_dict[weight_name].shape[2:]))
        state_dict[weight_name] = torch.from_numpy(weight_blobs)

    cls_map = {
        0: 20,  # road
        1: 43,  # sidewalk (pavement-merged -> sidewalk)
        2: 49,  # building
        3: 51,  # wall
        4: 37,  # fence
        5: -1,  # pole
        6: 62,  # traffic light
        7: -1,  # traffic sign
        8: 36,  # vegetation (tree-merged -> vegetation)
        9: -1,  # terrain
        10: 39,  # sky
        11: 53,  # person
        12: -1,  # rider
        13: 55,  # car
        14: 60,  # truck
        15: 58,  # bus
        16: 59,  # train
        17: 56,  # motorcycle
        18: 54,  # bicycle
    }
    for weight_name in ['fcn_head.score.weight', 'fcn_head.score.bias']:
        mean = state_dict[weight_name].mean().item()
        std = state_dict[weight_name].std().item()
        weight_blobs = ((np.random.randn(
            *([19] + list(state_dict[weight_name].shape[1:])))) * std +
                        mean).astype(np.float32)

        for i in range(19):
            cls = cls_map[i]
            if cls >= 0:
                weight_blobs[i] = state_dict[weight_name][cls]
        state_dict[weight_name] = torch.from_numpy(weight_blobs)

    copied = OrderedDict()
    for name, param in state_dict.items():
        if name not in own_shapes:
            continue  # 'unexpected key' warning
        if own_shapes[name] == tuple(param.shape):
            copied[name] = param
    return copied


def test_coco_to_cityscapes_equals_official_mapping():
    """A COCO R101 (with global context and deformable offsets, which the
    Cityscapes model lacks) -> the initialisation of the Cityscapes R101
    config: every mapped class equals the official mapping; the classes
    without a COCO counterpart (rider, pole, traffic sign, terrain) are
    drawn from the layer's statistics, as the official ones."""
    shapes = official_shapes(R101_BLOCKS, deformable=True, **COCO)
    official = fake_official(True, shapes, 'resnet_backbone.')
    mapped, dropped, missing = converter.coco_to_cityscapes(
        official, torch.Generator().manual_seed(0))
    own_shapes = official_shapes(R101_BLOCKS, **CITYSCAPES)
    expected = official_coco_to_cityscapes(official, own_shapes)
    assert mapped.keys() == expected.keys()
    assert set(dropped) == set(official) - set(expected)
    assert set(missing) == set(own_shapes) - set(expected)
    # the 3-layer COCO semantic subnet fits the 2-layer one in layer 0's
    # offsets and layer 1's biases only
    assert sorted(missing) == [
        'fcn_head.fcn_subnet.conv.0.0.conv.bias',
        'fcn_head.fcn_subnet.conv.0.0.conv.weight',
        'fcn_head.fcn_subnet.conv.1.0.conv.weight',
        'fcn_head.fcn_subnet.conv.1.0.conv_offset.weight']
    random_rows = {  # official index of the classes without a COCO one
        'rcnn.cls_score': [2], 'rcnn.bbox_pred': [2],
        'mask_branch.mask_score': [2], 'fcn_head.score': [5, 7, 9, 12]}
    for key, value in expected.items():
        layer = key.rsplit('.', 1)[0]
        if layer not in random_rows:
            assert torch.equal(mapped[key], value), key
            continue
        assert mapped[key].shape == value.shape, key
        per_class = value.shape[0] // (19 if layer == 'fcn_head.score' else 9)
        rows = torch.ones(value.shape[0], dtype=torch.bool)
        for index in random_rows[layer]:
            rows[index * per_class:(index + 1) * per_class] = False
        assert torch.equal(mapped[key][rows], value[rows]), key
        if key.endswith('.weight'):  # enough values for statistics
            source = official[key].float()
            drawn = mapped[key][~rows].float()
            assert abs(drawn.mean() - source.mean()) < 0.2 * source.std()
            assert 0.8 < drawn.std() / source.std() < 1.2, key

    converted = converter.convert(mapped, missing)
    assert converter.matching_config(converted) == (
        'configs/upsnet/'
        'upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py')
    model = _build('upsnet_r101-caffe_fpn_8xb2-3k_coco-pretrain_cityscapes.py')
    incompatible = model.load_state_dict(converted, strict=False)
    assert not incompatible.unexpected_keys
    # layer 0's conv bias (a FrozenBN here) stays at the identity
    assert sorted(incompatible.missing_keys) == [
        'semantic_head.subnet.0.bn.bias',
        'semantic_head.subnet.0.bn.running_mean',
        'semantic_head.subnet.0.bn.running_var',
        'semantic_head.subnet.0.bn.weight',
        'semantic_head.subnet.0.conv.weight',
        'semantic_head.subnet.1.conv.conv_offset.weight',
        'semantic_head.subnet.1.conv.weight'
    ]
    # in mmpanoptic's order: car (2) from COCO's car, road (8) from COCO's
    # road, traffic light (14) from COCO's traffic light thing
    cls = model.roi_head.bbox_head.fc_cls.weight
    assert torch.equal(cls[2], official['rcnn.cls_score.weight'][3])
    assert torch.equal(cls[8], official['rcnn.cls_score.weight'][0])
    semantic = model.semantic_head.conv_logits.weight
    assert torch.equal(semantic[8], official['fcn_head.score.weight'][20])
    assert torch.equal(semantic[14], official['fcn_head.score.weight'][62])


def test_coco_to_cityscapes_needs_a_coco_model():
    official = fake_official(shapes=official_shapes(R50_BLOCKS, **CITYSCAPES))
    with pytest.raises(converter.ConversionError, match='needs a COCO model'):
        converter.coco_to_cityscapes(official)


def test_cli_coco_to_cityscapes(tmp_path):
    official = fake_official(compact=True)
    src, dst = tmp_path / 'upsnet_coco.pth', tmp_path / 'converted.pth'
    torch.save(official, src)
    result = subprocess.run(
        [sys.executable, CONVERTER, '--coco-to-cityscapes', str(src),
         str(dst)], capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'fpn.fpn_gap.weight' in result.stdout  # dropped, and said so
    checkpoint = torch.load(dst)
    assert checkpoint['meta']['num_things_classes'] == 8
    assert checkpoint['meta']['num_stuff_classes'] == 11
    assert checkpoint['meta']['config'] == \
        'configs/upsnet/upsnet_r50-caffe_fpn_8xb2-12k_cityscapes.py'
