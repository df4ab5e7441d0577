"""tools/model_converters/panoptic_fcn_to_mmpanoptic.py on fake official
checkpoints holding every key and shape of the official models (written
from dvlab-research/PanopticFCN and detectron2's ResNet/FPN, not from
ours): strict loading into the matching caffe configs, known answers, and
clear errors."""
import os
import os.path as osp
import pickle
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmpanoptic.models.panoptic_fcn.target_generation import stuff_one_hot
from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from ..conftest import REPO_ROOT, load_script

register_all_modules()

CONVERTER = 'tools/model_converters/panoptic_fcn_to_mmpanoptic.py'
CONFIG_1X = 'configs/panoptic_fcn/panoptic-fcn_r50-caffe_fpn_1x_coco.py'
CONFIG_STAR = 'configs/panoptic_fcn/panoptic-fcn-star_r50-caffe_fpn_3x_coco.py'
NUM_THINGS, NUM_STUFF = 80, 53
ENV = dict(os.environ, OMP_NUM_THREADS='1')


converter = load_script(CONVERTER)


def official_shapes(encoder_channels=64, deformable_encoder=False):
    """Key -> shape of the official Panoptic FCN R50 state dict.

    detectron2 R50 (BasicStem, BottleneckBlock, FrozenBN, stride in 1x1),
    FPN with LastLevelP6P7fromP5, the official SemanticFPN (GN), position
    head (3 modulated deformable convs + GN, 80 + 54 outputs), kernel head
    (coordinates, 3 convs + GN), feature encoder (coordinates, 3 convs, no
    norm; deformable and 256 channels for the "*" model) and the 1x1
    ``embed_extractor`` of the thing and stuff generators.
    """
    shapes = OrderedDict()

    def conv(name, out_channels, in_channels, size, bias):
        shapes[f'{name}.weight'] = (out_channels, in_channels, size, size)
        if bias:
            shapes[f'{name}.bias'] = (out_channels, )

    def frozen_bn(name, channels):
        for tensor in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{tensor}'] = (channels, )

    def group_norm(name, channels):
        shapes[f'{name}.weight'] = (channels, )
        shapes[f'{name}.bias'] = (channels, )

    conv('backbone.bottom_up.stem.conv1', 64, 3, 7, bias=False)
    frozen_bn('backbone.bottom_up.stem.conv1.norm', 64)
    in_channels = 64
    for stage, num_blocks in zip((2, 3, 4, 5), (3, 4, 6, 3)):
        width = 64 * 2**(stage - 2)
        out_channels = 4 * width
        for block in range(num_blocks):
            prefix = f'backbone.bottom_up.res{stage}.{block}'
            if block == 0:
                conv(f'{prefix}.shortcut', out_channels, in_channels, 1,
                     bias=False)
                frozen_bn(f'{prefix}.shortcut.norm', out_channels)
            conv(f'{prefix}.conv1', width, in_channels, 1, bias=False)
            frozen_bn(f'{prefix}.conv1.norm', width)
            conv(f'{prefix}.conv2', width, width, 3, bias=False)
            frozen_bn(f'{prefix}.conv2.norm', width)
            conv(f'{prefix}.conv3', out_channels, width, 1, bias=False)
            frozen_bn(f'{prefix}.conv3.norm', out_channels)
            in_channels = out_channels
    for stage, channels in zip((2, 3, 4, 5), (256, 512, 1024, 2048)):
        conv(f'backbone.fpn_lateral{stage}', 256, channels, 1, bias=True)
        conv(f'backbone.fpn_output{stage}', 256, 256, 3, bias=True)
    conv('backbone.top_block.p6', 256, 256, 3, bias=True)
    conv('backbone.top_block.p7', 256, 256, 3, bias=True)
    for stage in (2, 3, 4, 5):
        for layer in range(max(1, stage - 2)):  # Sequential(conv, upsample)
            name = f'semantic_fpn.p{stage}.{2 * layer}'
            conv(name, 256, 256, 3, bias=False)
            group_norm(f'{name}.norm', 256)
    for k in (1, 2, 3):
        head = f'position_head.position_head.position_head_head_{k}'
        conv(f'{head}.offset_mask_conv', 27, 256, 3, bias=True)
        conv(f'{head}.dcnv2', 256, 256, 3, bias=False)
        group_norm(f'{head}.dcnv2.norm', 256)
    conv('position_head.out_inst', NUM_THINGS, 256, 3, bias=True)
    conv('position_head.out_sem', NUM_STUFF + 1, 256, 3, bias=True)
    for k in (1, 2, 3):
        head = f'kernel_head.kernel_head.kernel_head_head_{k}'
        conv(head, 256, 258 if k == 1 else 256, 3, bias=False)
        group_norm(f'{head}.norm', 256)
    conv('kernel_head.out_conv', 256, 256, 3, bias=True)
    for k in (1, 2, 3):
        head = f'feature_encoder.encode_head.encode_head_head_{k}'
        in_channels = 258 if k == 1 else encoder_channels
        if deformable_encoder:
            conv(f'{head}.offset_mask_conv', 27, in_channels, 3, bias=True)
            conv(f'{head}.dcnv2', encoder_channels, in_channels, 3,
                 bias=True)
        else:
            conv(head, encoder_channels, in_channels, 3, bias=True)
    for kind in ('thing', 'stuff'):
        conv(f'{kind}_generator.embed_extractor', encoder_channels, 256, 1,
             bias=True)
    return shapes


def fake_official_state_dict(seed=0, **architecture):
    """Random tensors under every official key."""
    generator = torch.Generator().manual_seed(seed)
    return OrderedDict(
        (key, torch.randn(shape, generator=generator))
        for key, shape in official_shapes(**architecture).items())


def build_model(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config)).model
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def official_1x():
    return fake_official_state_dict()


@pytest.fixture(scope='module')
def model_1x(official_1x):
    model = build_model(CONFIG_1X)
    model.load_state_dict(converter.convert(official_1x), strict=True)
    return model


def test_1x_loads_strictly_with_known_answers(official_1x, model_1x):
    backbone, head = model_1x.backbone, model_1x.panoptic_head
    # backbone convs arrive unchanged (BGR stem included)
    assert torch.equal(backbone.conv1.weight,
                       official_1x['backbone.bottom_up.stem.conv1.weight'])
    assert torch.equal(backbone.layer4[2].conv3.weight,
                       official_1x['backbone.bottom_up.res5.2.conv3.weight'])
    # FrozenBN running statistics arrive at the BN that replaces them
    assert torch.equal(
        backbone.layer2[0].bn2.running_var,
        official_1x['backbone.bottom_up.res3.0.conv2.norm.running_var'])
    assert torch.equal(
        backbone.layer3[0].downsample[1].running_mean,
        official_1x['backbone.bottom_up.res4.0.shortcut.norm.running_mean'])
    assert torch.equal(
        backbone.bn1.weight,
        official_1x['backbone.bottom_up.stem.conv1.norm.weight'])
    assert int(backbone.layer1[0].bn1.num_batches_tracked) == 0
    # FPN: P7 conv is the last extra conv, lateral2 the first lateral
    assert torch.equal(model_1x.neck.fpn_convs[5].conv.bias,
                       official_1x['backbone.top_block.p7.bias'])
    assert torch.equal(model_1x.neck.lateral_convs[0].conv.weight,
                       official_1x['backbone.fpn_lateral2.weight'])
    # semantic FPN: p5's third conv (index 4 of conv, up, conv, up, conv, up)
    assert torch.equal(
        head.semantic_fpn.scale_branches[3].conv[2].gn.weight,
        official_1x['semantic_fpn.p5.4.norm.weight'])
    # modulated deformable convs: offsets + mask copied in the same order
    prefix = 'position_head.position_head.position_head_head_2'
    position_conv = head.position_head.convs[1]
    assert torch.equal(position_conv.conv.conv_offset.weight,
                       official_1x[f'{prefix}.offset_mask_conv.weight'])
    assert torch.equal(position_conv.conv.weight,
                       official_1x[f'{prefix}.dcnv2.weight'])
    assert torch.equal(position_conv.gn.bias,
                       official_1x[f'{prefix}.dcnv2.norm.bias'])
    # 1x1 embed_extractor -> linear kernel projection
    assert torch.equal(
        head.stuff_kernel_projection.weight,
        official_1x['stuff_generator.embed_extractor.weight'][:, :, 0, 0])


def test_stuff_channels_follow_our_target_layout(official_1x, model_1x):
    """Official stuff-map channel 0 ("things", detectron2 label 0) goes to
    the channel our targets give thing pixels; official channel 1 (the
    first stuff class, banner) to the one they give label T."""
    def target_channel(label):
        sem_seg = torch.full((4, 4), label, dtype=torch.long)
        targets = stuff_one_hot(sem_seg, NUM_THINGS, NUM_STUFF, (1, 1))
        return int(targets[:, 0, 0].argmax())

    things_channel = target_channel(0)
    banner_channel = target_channel(NUM_THINGS)
    assert (things_channel, banner_channel) == (NUM_STUFF, 0)
    stuff_out = model_1x.panoptic_head.position_head.stuff_out
    official_weight = official_1x['position_head.out_sem.weight']
    official_bias = official_1x['position_head.out_sem.bias']
    assert torch.equal(stuff_out.weight[things_channel], official_weight[0])
    assert torch.equal(stuff_out.bias[things_channel], official_bias[0])
    assert torch.equal(stuff_out.weight[banner_channel], official_weight[1])
    assert torch.equal(stuff_out.bias[NUM_STUFF - 1], official_bias[NUM_STUFF])
    # thing heatmap channels keep their (category-id) order
    assert torch.equal(model_1x.panoptic_head.position_head.things_out.weight,
                       official_1x['position_head.out_inst.weight'])


def test_caffe_config_reproduces_the_official_backbone_and_input(model_1x):
    backbone = model_1x.backbone
    assert backbone.style == 'caffe'
    assert backbone.layer2[0].conv1.stride == (2, 2)  # STRIDE_IN_1X1
    assert backbone.layer2[0].conv2.stride == (1, 1)
    assert backbone.norm_eval
    assert not backbone.layer3[0].bn1.weight.requires_grad  # FrozenBN
    preprocessor = model_1x.data_preprocessor
    assert not preprocessor._channel_conversion  # BGR in, as detectron2
    assert preprocessor.mean.flatten().tolist() == pytest.approx(
        [123.675, 116.28, 103.53])
    assert preprocessor.std.flatten().tolist() == [1.0, 1.0, 1.0]


def test_star_model_with_deformable_encoder_loads_strictly():
    official = fake_official_state_dict(
        seed=1, encoder_channels=256, deformable_encoder=True)
    model = build_model(CONFIG_STAR)
    model.load_state_dict(converter.convert(official), strict=True)
    encoder_conv = model.panoptic_head.feature_encoder.convs[0].conv
    prefix = 'feature_encoder.encode_head.encode_head_head_1'
    assert torch.equal(encoder_conv.conv_offset.bias,
                       official[f'{prefix}.offset_mask_conv.bias'])
    assert torch.equal(encoder_conv.bias, official[f'{prefix}.dcnv2.bias'])
    projection = model.panoptic_head.thing_kernel_projection
    assert projection.weight.shape == (256, 256)


def test_numpy_values_of_detectron2_pkl_files(official_1x, tmp_path):
    as_numpy = {key: value.numpy() for key, value in official_1x.items()}
    converted = converter.convert(as_numpy)
    assert torch.equal(converted['backbone.conv1.weight'],
                       official_1x['backbone.bottom_up.stem.conv1.weight'])
    path = str(tmp_path / 'model_final.pkl')
    with open(path, 'wb') as file:
        pickle.dump({'model': {'a': np.zeros(2)}, '__author__': 'x'}, file)
    assert converter.load_official_checkpoint(path)['model']['a'].shape == (
        2, )


def test_unknown_and_missing_keys_are_named(official_1x):
    extra = OrderedDict(official_1x)
    extra['position_head.out_sem_extra.weight'] = torch.zeros(1)
    with pytest.raises(converter.ConversionError,
                       match=r'my\.pth: 1 unknown official keys '
                       r'\[position_head\.out_sem_extra\.weight\]'):
        converter.convert(extra, source='my.pth')
    lacking = OrderedDict(official_1x)
    del lacking['backbone.bottom_up.res4.5.conv2.norm.running_var']
    with pytest.raises(converter.ConversionError,
                       match=r'1 missing official keys \['
                       r'backbone\.bottom_up\.res4\.5\.conv2\.norm\.'
                       r'running_var\]'):
        converter.convert(lacking)
    no_last_res4_block = OrderedDict(
        (key, value) for key, value in official_1x.items()
        if not key.startswith('backbone.bottom_up.res4.5.'))
    with pytest.raises(converter.ConversionError,
                       match=r'\(3, 4, 5, 3\) blocks in res2\.\.res5'):
        converter.convert(no_last_res4_block)
    # pixel statistics buffers of other detectron2 models are not weights
    converter.convert(dict(official_1x, pixel_mean=torch.zeros(3, 1, 1)))


def test_cli_end_to_end(official_1x, model_1x, tmp_path):
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'ours.pth')
    torch.save(
        dict(
            model=official_1x,
            __author__='Detectron2 Model Zoo',
            matching_heuristics=True), src)
    result = subprocess.run(
        [sys.executable,
         osp.join(REPO_ROOT, CONVERTER), src, dst],
        capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    checkpoint = torch.load(dst, map_location='cpu')
    assert checkpoint['meta']['converted_from'] == 'official.pth'
    assert checkpoint['meta']['ignored_entries'] == [
        '__author__', 'matching_heuristics'
    ]
    model_1x.load_state_dict(checkpoint['state_dict'], strict=True)

    not_detectron2 = str(tmp_path / 'state_dict_only.pth')
    torch.save({'backbone.conv1.weight': torch.zeros(1)}, not_detectron2)
    result = subprocess.run(
        [sys.executable,
         osp.join(REPO_ROOT, CONVERTER), not_detectron2, dst],
        capture_output=True, text=True, cwd=REPO_ROOT, env=ENV)
    assert result.returncode != 0
    assert 'state_dict_only.pth: expected a detectron2 checkpoint' in (
        result.stderr)
