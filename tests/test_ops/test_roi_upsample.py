"""RoIUpsample against a brute-force loop implementation of AUNet eq. (5)-(6),
gradient checks and the RoIAlign round trip."""
import pytest
import torch
from mmcv.ops import roi_align

from mmpanoptic.ops import RoIUpsample, roi_upsample
from mmpanoptic.registry import MODELS
from .roi_upsample_brute_force import brute_force_roi_upsample, random_rois

IMPLS = ['pytorch', 'compiled', 'mmcv']


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('m,scale,sampling_ratio', [(2, 1.0, 2),
                                                    (7, 0.25, 2),
                                                    (14, 0.5, 2),
                                                    (3, 0.5, 3)])
def test_matches_brute_force(impl, m, scale, sampling_ratio):
    gen = torch.Generator().manual_seed(m)
    batch, img_h, img_w = 2, 60, 76
    # sizes from sub-pixel to larger than the map; many partly outside and
    # overlapping (14 RoIs in a 60 x 76 image)
    rois = random_rois(14, batch, img_h, img_w, gen, 0.5, 70.)
    feats = torch.randn(14, 3, m, m, generator=gen, dtype=torch.float64)
    out_shape = (batch, round(img_h * scale), round(img_w * scale))
    expected = brute_force_roi_upsample(feats, rois, out_shape, scale,
                                        sampling_ratio)
    got = roi_upsample(feats, rois, out_shape, scale, sampling_ratio, impl)
    assert got.shape == (batch, 3) + out_shape[1:]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    # the brute force has something to compare: RoIs add and reach both
    # images
    assert expected[0].abs().sum() > 0 and expected[1].abs().sum() > 0


@pytest.mark.parametrize('impl', IMPLS)
def test_float32_and_overlap_adds(impl):
    gen = torch.Generator().manual_seed(1)
    rois = random_rois(5, 1, 32, 32, gen, 4., 20.).float()
    feats = torch.randn(5, 2, 4, 4, generator=gen)
    out = roi_upsample(feats, rois, (1, 32, 32), 1.0, 2, impl)
    parts = sum(
        roi_upsample(feats[i:i + 1], rois[i:i + 1], (1, 32, 32), 1.0, 2,
                     impl) for i in range(5))
    torch.testing.assert_close(out, parts, rtol=1e-5, atol=1e-5)
    expected = brute_force_roi_upsample(feats, rois, (1, 32, 32), 1.0)
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', IMPLS)
def test_empty_rois_and_unreached_pixels_are_zero(impl):
    feats = torch.randn(0, 4, 14, 14, requires_grad=True)
    rois = torch.zeros(0, 5)
    out = roi_upsample(feats, rois, (2, 10, 12), 0.25, 2, impl)
    assert out.shape == (2, 4, 10, 12)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert feats.grad.shape == (0, 4, 14, 14)
    # a RoI in the corner leaves the rest of the map at exactly zero
    feats = torch.ones(1, 1, 2, 2)
    out = roi_upsample(feats, torch.tensor([[0., 0., 0., 4., 4.]]),
                       (1, 16, 16), 1.0, 2, impl)
    assert torch.count_nonzero(out[..., 6:, :]) == 0
    assert torch.count_nonzero(out[..., 6:]) == 0
    assert out.sum() > 0


@pytest.mark.parametrize('impl', IMPLS)
def test_gradcheck_float64(impl):
    gen = torch.Generator().manual_seed(5)
    rois = random_rois(6, 2, 20, 24, gen, 1., 16.)
    feats = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64,
                        requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda f: roi_upsample(f, rois, (2, 10, 12), 0.5, 2, impl),
        (feats, ), eps=1e-6, atol=1e-8)


def test_backward_is_adjoint_of_forward_brute_force():
    """<U(v), g> == <v, U^T(g)> with U from the brute force: the backward
    of both implementations is the exact adjoint of eq. (5)-(6)."""
    gen = torch.Generator().manual_seed(7)
    rois = random_rois(8, 2, 30, 30, gen, 1., 30.)
    feats = torch.randn(8, 2, 5, 5, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(2, 2, 15, 15, generator=gen, dtype=torch.float64)
    lhs = (brute_force_roi_upsample(feats, rois, (2, 15, 15), 0.5) *
           grad_out).sum()
    for impl in IMPLS:
        f = feats.clone().requires_grad_()
        roi_upsample(f, rois, (2, 15, 15), 0.5, 2, impl).backward(grad_out)
        torch.testing.assert_close((f.grad * feats).sum(), lhs)


@pytest.mark.parametrize('impl', IMPLS)
def test_round_trip_with_mmcv_roi_align(impl):
    """Every point of a bin gets value/4 (eq. (5)) and bilinear sampling at
    the point returns it exactly, so RoIAlign (aligned=True,
    sampling_ratio=2, which averages the 4 points) returns value/4; the sum
    over the bin's points (4 x the average) is the bin's value. Bins of
    >= 4 px keep every point's neighbours apart (isolated bins)."""
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(3, 5, 4, 4, generator=gen, dtype=torch.float64)
    # 4 x 4 bins of 4.0-6.5 px, sub-pixel offsets, one RoI per image plus a
    # disjoint one; scale 0.5 so image coordinates are twice as large
    rois = torch.tensor([[0, 5.2, 3.6, 37.2, 35.6],
                         [0, 44.3, 40.1, 96.3, 92.1],
                         [1, 9.9, 13.3, 47.9, 51.3]], dtype=torch.float64)
    out = roi_upsample(feats, rois, (2, 50, 50), 0.5, 2, impl)
    pooled = roi_align(out, rois, (4, 4), 0.5, 2, 'avg', True)
    torch.testing.assert_close(pooled * 4, feats)


def test_registered_module_and_errors():
    layer = MODELS.build(dict(type='RoIUpsample', spatial_scale=0.25))
    assert isinstance(layer, RoIUpsample)
    out = layer(torch.ones(1, 2, 2, 2), torch.tensor([[0., 0, 0, 8, 8]]),
                (1, 4, 4))
    assert out.shape == (1, 2, 4, 4)
    with pytest.raises(ValueError, match='batch indices'):
        layer(torch.ones(1, 2, 2, 2), torch.tensor([[1., 0, 0, 8, 8]]),
              (1, 4, 4))
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        layer(torch.ones(1, 2, 2, 2), torch.tensor([[0., 0, 8, 8]]),
              (1, 4, 4))
    with pytest.raises(ValueError, match='x2 >= x1'):
        layer(torch.ones(1, 2, 2, 2), torch.tensor([[0., 8, 0, 0, 8]]),
              (1, 4, 4))
    with pytest.raises(ValueError, match='2 RoI features but 1 RoIs'):
        layer(torch.ones(2, 2, 2, 2), torch.tensor([[0., 0, 0, 8, 8]]),
              (1, 4, 4))
    with pytest.raises(ValueError, match='implementation'):
        RoIUpsample(implementation='cuda_only')


def test_implementation_resolution():
    from mmpanoptic.ops.roi_upsample import resolve_implementation
    # the C++ extension is built by `make install` (setup.py ext_modules)
    assert resolve_implementation('auto', torch.device('cpu')) == 'compiled'
    assert resolve_implementation('auto', torch.device('meta')) == 'pytorch'
    with pytest.raises(RuntimeError, match='CPU tensors'):
        resolve_implementation('compiled', torch.device('meta'))
    with pytest.raises(RuntimeError, match='mmcv built with ops'):
        resolve_implementation('mmcv', torch.device('meta'))


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
@pytest.mark.parametrize('impl', IMPLS)
def test_traceable_with_sizes_from_tensor_shapes(impl):
    """Under torch.jit.trace (mmengine's FLOP counter) sizes read from a
    tensor's shape are traced tensors; the op takes them and the trace
    reproduces the eager result."""
    gen = torch.Generator().manual_seed(7)
    rois = random_rois(4, 2, 32, 32, gen, 4., 20.).float()
    feats = torch.randn(4, 3, 7, 7, generator=gen)

    class UpsampleToMap(torch.nn.Module):

        def forward(self, roi_feats, feature_map):
            batch, _, height, width = feature_map.shape
            return roi_upsample(roi_feats, rois, (batch, height, width),
                                0.5, 2, impl)

    feature_map = torch.zeros(2, 1, 16, 16)
    traced = torch.jit.trace(UpsampleToMap(), (feats, feature_map),
                             check_trace=False)
    expected = roi_upsample(feats, rois, (2, 16, 16), 0.5, 2, impl)
    torch.testing.assert_close(traced(feats, feature_map), expected)
    assert expected.abs().sum() > 0
