"""tools/model_converters/panoptic_fcn_to_mmpanoptic.py on fake official
checkpoints holding every key and shape of the official models: the state
dict of a transcription of the official model definition (module names and
parameter shapes of dvlab-research/PanopticFCN, commit f4141c3, and
detectron2 v0.3's ResNet, FPN and layers, written here as references only):
strict loading into the matching configs, known answers, and clear errors.
"""
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
from torch import nn

from mmpanoptic.models.panoptic_fcn.target_generation import stuff_one_hot
from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules
from ..conftest import REPO_ROOT, load_script

register_all_modules()

CONVERTER = 'tools/model_converters/panoptic_fcn_to_mmpanoptic.py'
CONFIG_1X = 'configs/panoptic_fcn/panoptic-fcn_r50-caffe_fpn_8xb2-90k_coco.py'
CONFIG_STAR = ('configs/panoptic_fcn/'
               'panoptic-fcn-star_r50-caffe_fpn_8xb2-270k_coco.py')
NUM_THINGS, NUM_STUFF = 80, 53
ENV = dict(os.environ, OMP_NUM_THREADS='1')


converter = load_script(CONVERTER)


# ------------------------------------ the official model's modules (names
# and parameter shapes only; see the module docstring)
class FrozenBatchNorm2d(nn.Module):
    """detectron2/layers/batch_norm.py, lines 14-43: four buffers."""

    def __init__(self, num_features):
        super().__init__()
        self.register_buffer('weight', torch.ones(num_features))
        self.register_buffer('bias', torch.zeros(num_features))
        self.register_buffer('running_mean', torch.zeros(num_features))
        self.register_buffer('running_var', torch.ones(num_features))


def get_norm(norm, channels):
    """``get_norm`` (detectron2/layers/batch_norm.py, line 127) for the
    norms used."""
    return {
        '': lambda c: None,
        'FrozenBN': FrozenBatchNorm2d,
        'GN': lambda c: nn.GroupNorm(32, c)
    }[norm](
        channels)


class Conv2d(nn.Conv2d):
    """detectron2/layers/wrappers.py, lines 40-60: the norm is a child."""

    def __init__(self, *args, norm=None, activation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation


class BasicStem(nn.Module):
    """detectron2/modeling/backbone/resnet.py, lines 331-353."""

    def __init__(self, norm='FrozenBN'):
        super().__init__()
        self.conv1 = Conv2d(
            3, 64, 7, stride=2, padding=3, bias=False, norm=get_norm(norm, 64))


class BottleneckBlock(nn.Module):
    """detectron2/modeling/backbone/resnet.py, lines 101-212."""

    def __init__(self,
                 in_channels,
                 out_channels,
                 bottleneck_channels,
                 stride=1,
                 norm='FrozenBN',
                 stride_in_1x1=True):
        super().__init__()
        if in_channels != out_channels:
            self.shortcut = Conv2d(
                in_channels,
                out_channels,
                1,
                stride=stride,
                bias=False,
                norm=get_norm(norm, out_channels))
        else:
            self.shortcut = None
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(
            in_channels,
            bottleneck_channels,
            1,
            stride=stride_1x1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels))
        self.conv2 = Conv2d(
            bottleneck_channels,
            bottleneck_channels,
            3,
            stride=stride_3x3,
            padding=1,
            bias=False,
            norm=get_norm(norm, bottleneck_channels))
        self.conv3 = Conv2d(
            bottleneck_channels,
            out_channels,
            1,
            bias=False,
            norm=get_norm(norm, out_channels))


class ResNet(nn.Module):
    """``build_resnet_backbone`` (detectron2/modeling/backbone/resnet.py,
    lines 561-646) for R50 with RESNETS.NORM 'FrozenBN', STRIDE_IN_1X1."""

    def __init__(self, blocks=(3, 4, 6, 3)):
        super().__init__()
        self.stem = BasicStem()
        in_channels, out_channels, bottleneck = 64, 256, 64
        for stage, num_blocks in zip(range(2, 6), blocks):
            first_stride = 1 if stage == 2 else 2
            self.add_module(
                f'res{stage}',
                nn.Sequential(*[
                    BottleneckBlock(in_channels if i == 0 else out_channels,
                                    out_channels, bottleneck,
                                    first_stride if i == 0 else 1)
                    for i in range(num_blocks)
                ]))
            in_channels = out_channels
            out_channels, bottleneck = out_channels * 2, bottleneck * 2


class LastLevelP6P7fromP5(nn.Module):
    """panopticfcn/backbone_utils.py, lines 68-80."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.p6 = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = nn.Conv2d(out_channels, out_channels, 3, 2, 1)


class FPN(nn.Module):
    """detectron2/modeling/backbone/fpn.py, lines 16-92 (FPN.NORM '')."""

    def __init__(self, bottom_up, out_channels=256):
        super().__init__()
        for stage, in_channels in zip(range(2, 6), (256, 512, 1024, 2048)):
            self.add_module(f'fpn_lateral{stage}',
                            Conv2d(in_channels, out_channels, 1, bias=True))
            self.add_module(
                f'fpn_output{stage}',
                Conv2d(out_channels, out_channels, 3, padding=1, bias=True))
        self.top_block = LastLevelP6P7fromP5(out_channels, out_channels)
        self.bottom_up = bottom_up


class SemanticFPN(nn.Module):
    """panopticfcn/backbone_utils.py, lines 13-56 (NORM 'GN')."""

    def __init__(self, conv_dims=256):
        super().__init__()
        for stage in range(2, 6):
            ops = []
            for k in range(max(1, stage - 2)):
                ops.append(
                    Conv2d(
                        256 if k == 0 else conv_dims,
                        conv_dims,
                        3,
                        padding=1,
                        bias=False,
                        norm=get_norm('GN', conv_dims)))
                if stage != 2:
                    ops.append(nn.Upsample(scale_factor=2))
            self.add_module(f'p{stage}', nn.Sequential(*ops))


class ModulatedDeformConv(nn.Module):
    """detectron2/layers/deform_conv.py, lines 405-453: weight, optional
    bias, the norm as a child."""

    def __init__(self, in_channels, out_channels, bias=True, norm=None):
        super().__init__()
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.norm = norm


class ModulatedDeformConvWithOff(nn.Module):
    """panopticfcn/deform_conv_with_off.py, lines 34-53."""

    def __init__(self, in_channels, out_channels, bias=True, norm=None):
        super().__init__()
        self.offset_mask_conv = nn.Conv2d(in_channels, 27, 3, padding=1)
        self.dcnv2 = ModulatedDeformConv(
            in_channels, out_channels, bias=bias, norm=norm)


class SingleHead(nn.Module):
    """panopticfcn/head.py, lines 11-35."""

    def __init__(self,
                 in_channel,
                 conv_dims,
                 num_convs,
                 deform=False,
                 norm='',
                 name=''):
        super().__init__()
        for k in range(num_convs):
            in_dims = in_channel if k == 0 else conv_dims
            if deform:
                conv = ModulatedDeformConvWithOff(
                    in_dims,
                    conv_dims,
                    bias=not norm,
                    norm=get_norm(norm, conv_dims))
            else:
                conv = Conv2d(
                    in_dims,
                    conv_dims,
                    3,
                    padding=1,
                    bias=not norm,
                    norm=get_norm(norm, conv_dims))
            self.add_module(f'{name}_head_{k + 1}', conv)


class OfficialPanopticFCN(nn.Module):
    """panopticfcn/panoptic_seg.py, lines 49-56, with the heads of
    panopticfcn/head.py (PositionHead 55-79, KernelHead 92-112,
    FeatureEncoder 123-142, ThingGenerator / StuffGenerator 149-161 and
    209-218) and panopticfcn/config.py's defaults (position head: 3
    deformable convs + GN, no coordinates; kernel head: coordinates, 3
    convs + GN; encoder: coordinates, 3 convs, no norm; 80 things, 54 stuff
    channels)."""

    def __init__(self, encoder_channels=64, deformable_encoder=False):
        super().__init__()
        self.backbone = FPN(ResNet())
        self.semantic_fpn = SemanticFPN()
        self.position_head = nn.Module()
        self.position_head.position_head = SingleHead(
            256, 256, 3, deform=True, norm='GN', name='position_head')
        self.position_head.out_inst = nn.Conv2d(256, NUM_THINGS, 3, padding=1)
        self.position_head.out_sem = nn.Conv2d(
            256, NUM_STUFF + 1, 3, padding=1)
        self.kernel_head = nn.Module()
        self.kernel_head.kernel_head = SingleHead(
            256 + 2, 256, 3, norm='GN', name='kernel_head')
        self.kernel_head.out_conv = nn.Conv2d(256, 256, 3, padding=1)
        self.feature_encoder = nn.Module()
        self.feature_encoder.encode_head = SingleHead(
            256 + 2,
            encoder_channels,
            3,
            deform=deformable_encoder,
            name='encode_head')
        for kind in ('thing', 'stuff'):
            generator = nn.Module()
            generator.embed_extractor = nn.Conv2d(256, encoder_channels, 1)
            self.add_module(f'{kind}_generator', generator)


def official_shapes(encoder_channels=64, deformable_encoder=False):
    """Key -> shape of the official Panoptic FCN R50 state dict (every
    parameter and buffer of the transcribed model)."""
    with torch.device('meta'):
        model = OfficialPanopticFCN(encoder_channels, deformable_encoder)
    return OrderedDict(
        (key, tuple(value.shape)) for key, value in model.state_dict().items())


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


def test_every_official_key_is_converted(official_1x):
    """346 official tensors (R50: 265 backbone + 20 FPN, 21 semantic FPN,
    19 position head, 11 kernel head, 6 encoder, 4 generators) become 399:
    each of the 53 FrozenBNs gains ``num_batches_tracked``."""
    assert len(official_1x) == 346
    frozen_bns = [key for key in official_1x if key.endswith('running_var')]
    assert len(frozen_bns) == 53
    assert len(converter.convert(official_1x)) == 346 + 53
    star = official_shapes(encoder_channels=256, deformable_encoder=True)
    assert len(star) == 352  # + 3 offset convs (weight, bias) of the encoder


@pytest.mark.parametrize('config', [
    'panoptic-fcn_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-400_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-512_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-600_r50_fpn_8xb2-270k_coco.py'
])
def test_3x_and_small_input_checkpoints_load_strictly(official_1x, config):
    """The official 3x, 400, 512 and 600 checkpoints have the 1x keys (they
    differ in POS_NUM and input sizes only): they load into those configs
    given the caffe backbone and input of the 1x caffe config."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/panoptic_fcn', config))
    caffe = Config.fromfile(osp.join(REPO_ROOT, CONFIG_1X)).model
    cfg.model.data_preprocessor = caffe.data_preprocessor
    cfg.model.backbone = caffe.backbone
    model = MODELS.build(cfg.model)
    model.load_state_dict(converter.convert(official_1x), strict=True)
    assert torch.equal(model.panoptic_head.kernel_head.out_conv.weight,
                       official_1x['kernel_head.out_conv.weight'])


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
