"""The grid-sample deformable convs equal mmcv's ops (forward and every
gradient), have exact gradients (gradcheck), and keep mmcv's state dicts."""
import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmcv.ops import (DeformConv2dPack, ModulatedDeformConv2dPack,
                      deform_conv2d, modulated_deform_conv2d)

from mmpanoptic.ops import (GridSampleDeformConv2dPack,
                            GridSampleModulatedDeformConv2dPack,
                            deform_conv2d_grid_sample)

# in, out channels, stride, padding, dilation, groups, deform groups, H, W
SHAPES = [
    (8, 6, 1, 1, 1, 1, 1, 9, 7),
    (8, 6, 2, 2, 2, 2, 2, 10, 11),
    (4, 4, 1, 0, 1, 1, 4, 5, 6),
]


def _inputs(cin, cout, stride, pad, dil, groups, dgroups, height, width,
            dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    out_h = (height + 2 * pad - 2 * dil - 1) // stride + 1
    out_w = (width + 2 * pad - 2 * dil - 1) // stride + 1
    x = torch.randn(2, cin, height, width, generator=generator, dtype=dtype)
    weight = torch.randn(
        cout, cin // groups, 3, 3, generator=generator, dtype=dtype)
    # offsets of a few pixels: many samples fall between pixels and some
    # outside the image (zero there)
    offset = 2 * torch.randn(
        2, dgroups * 18, out_h, out_w, generator=generator, dtype=dtype)
    mask = torch.rand(
        2, dgroups * 9, out_h, out_w, generator=generator, dtype=dtype)
    bias = torch.randn(cout, generator=generator, dtype=dtype)
    return x, offset, weight, mask, bias


def _grads(fn, tensors):
    tensors = [t.detach().clone().requires_grad_() for t in tensors]
    out = fn(*tensors)
    out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    return out.detach(), [t.grad for t in tensors]


@pytest.mark.parametrize('shape', SHAPES)
def test_equals_mmcv_deform_conv(shape):
    cin, cout, stride, pad, dil, groups, dgroups, _, _ = shape
    x, offset, weight, _, _ = _inputs(*shape)

    def ours(a, b, c):
        return deform_conv2d_grid_sample(a, b, c, stride, pad, dil, groups,
                                         dgroups)

    def mmcv(a, b, c):
        return deform_conv2d(a, b, c, stride, pad, dil, groups, dgroups,
                             False, 32)

    out, grads = _grads(ours, (x, offset, weight))
    ref, ref_grads = _grads(mmcv, (x, offset, weight))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize('shape', SHAPES)
def test_equals_mmcv_modulated_deform_conv(shape):
    cin, cout, stride, pad, dil, groups, dgroups, _, _ = shape
    x, offset, weight, mask, bias = _inputs(*shape)

    def ours(a, b, c, m, d):
        return deform_conv2d_grid_sample(a, b, c, stride, pad, dil, groups,
                                         dgroups, m, d)

    def mmcv(a, b, c, m, d):
        return modulated_deform_conv2d(a, b, m, c, d, stride, pad, dil,
                                       groups, dgroups)

    out, grads = _grads(ours, (x, offset, weight, mask, bias))
    ref, ref_grads = _grads(mmcv, (x, offset, weight, mask, bias))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, atol=1e-3, rtol=1e-4)


def test_zero_offsets_are_a_plain_convolution():
    x, _, weight, _, _ = _inputs(*SHAPES[1])
    offset = torch.zeros(2, 2 * 18, 5, 6)
    out = deform_conv2d_grid_sample(x, offset, weight, 2, 2, 2, 2, 2)
    expected = torch.nn.functional.conv2d(
        x, weight, stride=2, padding=2, dilation=2, groups=2)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_gradcheck_float64():
    shape = (4, 2, 1, 1, 1, 2, 2, 4, 5)
    x, offset, weight, mask, bias = _inputs(*shape, dtype=torch.float64)
    tensors = [t.requires_grad_() for t in (x, offset, weight, mask, bias)]
    assert torch.autograd.gradcheck(
        lambda a, b, c, m, d: deform_conv2d_grid_sample(
            a, b, c, 1, 1, 1, 2, 2, m, d), tensors)


def test_one_pixel_wide_input():
    """grid_sample's align_corners=False mapping is exact also for a
    1-pixel dimension: a sample at the pixel's centre reads it."""
    x = torch.arange(3.).reshape(1, 1, 3, 1)
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1  # the centre tap only
    offset = torch.zeros(1, 18, 3, 1)
    out = deform_conv2d_grid_sample(x, offset, weight, 1, 1, 1)
    torch.testing.assert_close(out, x)
    offset[:, 2 * 4] = 1  # centre tap one row down: the next pixel, 0 below
    out = deform_conv2d_grid_sample(x, offset, weight, 1, 1, 1)
    torch.testing.assert_close(out.flatten(), torch.tensor([1., 2., 0.]))


def test_offset_channels_are_checked():
    x, offset, weight, _, _ = _inputs(*SHAPES[0])
    with pytest.raises(ValueError, match='offset has 18 channels'):
        deform_conv2d_grid_sample(x, offset, weight, 1, 1, 1, 1, 2)


@pytest.mark.parametrize('conv_type, ours_cls, mmcv_cls', [
    ('DCNGridSample', GridSampleDeformConv2dPack, DeformConv2dPack),
    ('DCNv2GridSample', GridSampleModulatedDeformConv2dPack,
     ModulatedDeformConv2dPack),
])
def test_packed_modules_match_mmcv_and_share_state_dicts(
        conv_type, ours_cls, mmcv_cls):
    torch.manual_seed(0)
    kwargs = dict(
        deform_groups=2, padding=1, bias=conv_type != 'DCNGridSample')
    ours = build_conv_layer(dict(type=conv_type), 8, 6, 3, **kwargs)
    assert type(ours) is ours_cls
    reference = mmcv_cls(8, 6, 3, **kwargs)
    # mmcv's state dict loads strictly, offsets made non-zero
    state = reference.state_dict()
    state['conv_offset.weight'].normal_(0, 0.1)
    reference.load_state_dict(state)
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 8, 9, 9)
    torch.testing.assert_close(ours(x), reference(x), atol=1e-4, rtol=1e-4)
