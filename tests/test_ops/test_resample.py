"""Fused upsample-and-decide kernels against F.interpolate (the reference)."""
import pytest
import torch
import torch.nn.functional as F

from mmpanoptic.ops.resample import (compiled_resample_available,
                                     resampling_taps, upsample_argmax,
                                     upsample_argmax_reference,
                                     upsample_threshold)

# (map size, stride, valid size, output size): same size, a crop of the
# padding, rescaling up and down, a non-square stride-8 map, a 1-pixel map
GEOMETRIES = [
    ((6, 9), 4, (24, 36), (24, 36)),
    ((6, 9), 4, (22, 33), (22, 33)),
    ((6, 9), 4, (22, 33), (31, 47)),
    ((6, 9), 4, (22, 33), (13, 20)),
    ((5, 3), 8, (40, 17), (40, 17)),
    ((1, 1), 4, (4, 4), (6, 5)),
]


def _reference_values(maps, valid, out, stride):
    values = F.interpolate(
        maps[None], size=(maps.shape[1] * stride, maps.shape[2] * stride),
        mode='bilinear', align_corners=False)[:, :, :valid[0], :valid[1]]
    if tuple(valid) != tuple(out):
        values = F.interpolate(
            values, size=out, mode='bilinear', align_corners=False)
    return values[0]


def test_the_extension_is_built():
    # `make install` builds it; without it 'auto' silently takes the slower
    # reference, which CI must not hide
    assert compiled_resample_available(torch.device('cpu'))


@pytest.mark.parametrize('size,stride,valid,out', GEOMETRIES)
def test_taps_reproduce_the_reference_resampling(size, stride, valid, out):
    torch.manual_seed(0)
    signal = torch.randn(size[0])
    index, weight = resampling_taps(size[0], stride, valid[0], out[0])
    assert index.shape == weight.shape and index.shape[0] == out[0]
    assert (weight >= 0).all()
    assert torch.allclose(weight.sum(dim=1), torch.ones(out[0]))
    resampled = (weight * signal[index]).sum(dim=1)
    expected = _reference_values(signal[None, :, None].expand(1, -1, 2),
                                 (valid[0], 2 * stride),
                                 (out[0], 2 * stride), stride)[0, :, 0]
    assert torch.allclose(resampled, expected, atol=1e-6)


@pytest.mark.parametrize('size,stride,valid,out', GEOMETRIES)
@pytest.mark.parametrize('smooth', [False, True])
def test_argmax_equals_the_reference(size, stride, valid, out, smooth):
    generator = torch.Generator().manual_seed(1)
    maps = torch.randn(23, *size, generator=generator)
    if smooth:  # few candidate channels per cell: the pruned path
        maps = maps * 0.1 + torch.arange(23.0)[:, None, None] % 3
    values = _reference_values(maps, valid, out, stride)
    for implementation in ('pytorch', 'compiled'):
        result = upsample_argmax(maps, valid, out, stride, implementation)
        assert result.shape == tuple(out) and result.dtype == torch.long
        expected = values.argmax(dim=0)
        differ = result != expected
        # only float ties may differ (the compiled sums in another order)
        chosen = values.gather(0, result[None])[0]
        assert torch.allclose(chosen[differ], values.max(dim=0).values[differ],
                              atol=1e-5)
        assert differ.float().mean() < 1e-3


def test_argmax_ties_go_to_the_first_channel_and_no_channel_gives_minus_1():
    maps = torch.zeros(3, 4, 5)
    maps[1] = 1.0
    maps[2] = 1.0  # ties with channel 1 everywhere
    maps[0, 2, 2] = 5.0  # one low-resolution pixel where channel 0 wins
    for implementation in ('pytorch', 'compiled'):
        result = upsample_argmax(maps, (16, 20), (16, 20), 4, implementation)
        assert set(result.unique().tolist()) == {0, 1}
        # output pixels around input pixel (2, 2), i.e. rows/cols 8..11,
        # see value 5 with weight >= 1/4 against 1: channel 0
        assert (result[9:11, 9:11] == 0).all()
        assert (result[:4, :4] == 1).all()
        assert upsample_argmax(maps[:0], (16, 20), (16, 20), 4,
                               implementation).eq(-1).all()


@pytest.mark.parametrize('size,stride,valid,out', GEOMETRIES)
def test_threshold_equals_the_reference(size, stride, valid, out):
    generator = torch.Generator().manual_seed(2)
    probs = torch.rand(7, *size, generator=generator)
    probs[0] = 0.9  # decided by the cells alone: all in
    probs[1] = 0.1  # all out
    values = _reference_values(probs, valid, out, stride)
    for implementation in ('pytorch', 'compiled'):
        masks = upsample_threshold(probs, valid, out, stride, 0.4,
                                   implementation)
        assert masks.shape == (7, *out) and masks.dtype == torch.bool
        assert masks[0].all() and not masks[1].any()
        differ = masks != (values > 0.4)
        assert ((values[differ] - 0.4).abs() < 1e-5).all()
    empty = upsample_threshold(probs[:0], valid, out, stride, 0.4)
    assert empty.shape == (0, *out)


def test_large_argmax_matches_chunked_reference():
    # COCO-sized: 153 channels from 200x304 to 800x1216; the reference is
    # chunked over channels
    generator = torch.Generator().manual_seed(3)
    coarse = torch.randn(1, 153, 25, 38, generator=generator)
    maps = F.interpolate(coarse, size=(200, 304), mode='bilinear')[0]
    compiled = upsample_argmax(maps, (797, 1210), (797, 1210), 4, 'compiled')
    reference = upsample_argmax_reference(maps, (797, 1210), (797, 1210), 4)
    assert (compiled != reference).float().mean() < 1e-5


def test_bad_arguments_are_named():
    maps = torch.zeros(2, 3, 3)
    with pytest.raises(ValueError, match='implementation'):
        upsample_argmax(maps, (12, 12), (12, 12), 4, 'cuda')
    with pytest.raises(ValueError, match='exceeds'):
        upsample_argmax(maps, (13, 12), (13, 12), 4)
    with pytest.raises(RuntimeError, match='compiled'):
        upsample_threshold(maps.to('meta'), (12, 12), (12, 12), 4, 0.5,
                           'compiled')
