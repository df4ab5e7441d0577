"""RoIUpsample's CUDA kernels (mmpanoptic/ops/csrc/roi_upsample_cuda.cu)
against the brute-force loop implementation of AUNet eq. (5)-(6), the
pure-PyTorch reference and the C++ CPU kernels, with gradient checks and the
RoIAlign round trip on the GPU.

Collected only where ``torch.cuda.is_available()``
(tests/test_ops/conftest.py);
on a GPU machine they fail, not skip, when the CUDA extension is not built.
Where the OpenMMLab stack is not installed (a GPU machine with torch alone),
``python .dev_scripts/run_cuda_op_tests.py`` runs them.
"""
import pytest
import torch

from mmpanoptic.ops.roi_upsample import (_roi_upsample_ext,
                                         compiled_kernel_available,
                                         resolve_implementation, roi_upsample)
from .roi_upsample_brute_force import brute_force_roi_upsample, random_rois

CUDA = torch.device('cuda')
# the CUDA kernels, and the device-agnostic reference run on the GPU
IMPLS = ['compiled', 'pytorch']


def test_cuda_extension_is_built_and_chosen():
    assert compiled_kernel_available(CUDA), (
        'mmpanoptic.ops._roi_upsample_cuda_ext is not built: run '
        '`pip install -e .` (or `python setup.py build_ext --inplace`) on a '
        'machine where torch has CUDA, or with FORCE_CUDA=1')
    assert resolve_implementation('auto', CUDA) == 'compiled'


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('m,scale,sampling_ratio', [(2, 1.0, 2), (7, 0.25, 2),
                                                    (14, 0.5, 2),
                                                    (28, 0.25, 2), (3, 0.5, 3),
                                                    (4, 1.0, 1)])
def test_matches_brute_force_on_cuda(impl, m, scale, sampling_ratio):
    gen = torch.Generator().manual_seed(m)
    batch, img_h, img_w = 2, 60, 76
    # sub-pixel to larger than the map, many partly outside and overlapping
    rois = random_rois(14, batch, img_h, img_w, gen, 0.5, 70.)
    feats = torch.randn(14, 3, m, m, generator=gen, dtype=torch.float64)
    out_shape = (batch, round(img_h * scale), round(img_w * scale))
    expected = brute_force_roi_upsample(feats, rois, out_shape, scale,
                                        sampling_ratio)
    got = roi_upsample(feats.cuda(), rois.cuda(), out_shape, scale,
                       sampling_ratio, impl)
    assert got.device.type == 'cuda'
    assert got.shape == (batch, 3) + out_shape[1:]
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-10, atol=1e-10)
    assert expected[0].abs().sum() > 0 and expected[1].abs().sum() > 0


def test_cuda_kernels_match_cpu_kernels_at_aunet_size():
    """Stride-4 map of an 800x1216 batch of 2, 256 channels, 300 RoIs of
    16-224 px with m = 14: forward and backward of the CUDA kernels equal
    the C++ CPU kernels' (float64, so the atomic adds' order is below the
    tolerance)."""
    assert _roi_upsample_ext is not None, 'C++ CPU extension not built'
    gen = torch.Generator().manual_seed(0)
    rois = random_rois(300, 2, 800, 1216, gen, 16., 224., outside=False)
    feats = torch.randn(300, 256, 14, 14, generator=gen, dtype=torch.float64)
    grad_map = torch.randn(
        2, 256, 200, 304, generator=gen, dtype=torch.float64)
    outputs, grads = [], []
    for device, impl in (('cpu', 'compiled'), ('cuda', 'compiled')):
        f = feats.to(device, copy=True).requires_grad_()
        out = roi_upsample(f, rois.to(device), (2, 200, 304), 0.25, 2, impl)
        out.backward(grad_map.to(device))
        outputs.append(out.detach().cpu())
        grads.append(f.grad.cpu())
    assert outputs[0].abs().sum() > 0
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-9, atol=1e-9)
    # the gather has no atomics: same sums in the same order
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float16, 2e-2),
                                       (torch.bfloat16, 8e-2)])
def test_low_precision_on_cuda(dtype, tol):
    """float32 / float16 / bfloat16 inputs (AMP) against the float64 brute
    force; RoIs on integer and half-pixel coordinates so that casting them
    to the input's dtype is exact."""
    gen = torch.Generator().manual_seed(2)
    rois = (random_rois(10, 2, 40, 40, gen, 4., 30.) * 2).round() / 2
    feats = torch.randn(10, 4, 7, 7, generator=gen, dtype=torch.float64)
    expected = brute_force_roi_upsample(feats, rois, (2, 20, 20), 0.5)
    f = feats.to(CUDA, dtype).requires_grad_()
    got = roi_upsample(f, rois.to(CUDA, dtype), (2, 20, 20), 0.5, 2,
                       'compiled')
    assert got.dtype == dtype
    scale = expected.abs().max()
    torch.testing.assert_close(
        got.double().cpu() / scale, expected / scale, rtol=0, atol=tol)
    got.float().sum().backward()
    assert f.grad.dtype == dtype and torch.isfinite(f.grad).all()


@pytest.mark.parametrize('impl', IMPLS)
def test_empty_rois_and_unreached_pixels_are_zero_on_cuda(impl):
    feats = torch.randn(0, 4, 14, 14, device=CUDA, requires_grad=True)
    out = roi_upsample(feats, torch.zeros(0, 5, device=CUDA), (2, 10, 12),
                       0.25, 2, impl)
    assert out.shape == (2, 4, 10, 12) and out.device.type == 'cuda'
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert feats.grad.shape == (0, 4, 14, 14)
    out = roi_upsample(
        torch.ones(1, 1, 2, 2, device=CUDA),
        torch.tensor([[0., 0., 0., 4., 4.]], device=CUDA), (1, 16, 16), 1.0, 2,
        impl)
    assert torch.count_nonzero(out[..., 6:, :]) == 0
    assert torch.count_nonzero(out[..., 6:]) == 0
    assert out.sum() > 0


@pytest.mark.parametrize('impl', IMPLS)
def test_gradcheck_float64_on_cuda(impl):
    gen = torch.Generator().manual_seed(5)
    rois = random_rois(6, 2, 20, 24, gen, 1., 16.).cuda()
    feats = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    feats = feats.cuda().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda f: roi_upsample(f, rois, (2, 10, 12), 0.5, 2, impl), (feats, ),
        eps=1e-6,
        atol=1e-8)


def test_backward_is_adjoint_of_brute_force_on_cuda():
    """<U(v), g> == <v, U^T(g)> with U from the brute force."""
    gen = torch.Generator().manual_seed(7)
    rois = random_rois(8, 2, 30, 30, gen, 1., 30.)
    feats = torch.randn(8, 2, 5, 5, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(2, 2, 15, 15, generator=gen, dtype=torch.float64)
    lhs = (brute_force_roi_upsample(feats, rois,
                                    (2, 15, 15), 0.5) * grad_out).sum()
    for impl in IMPLS:
        f = feats.cuda().requires_grad_()
        roi_upsample(f, rois.cuda(), (2, 15, 15), 0.5, 2,
                     impl).backward(grad_out.cuda())
        torch.testing.assert_close((f.grad.cpu() * feats).sum(), lhs)


def _roi_align_cuda():
    """RoIAlign(aligned=True, avg) on CUDA: mmcv's where it has CUDA ops,
    else torchvision's (the same kernel geometry)."""
    try:
        from mmcv.ops import roi_align
        from mmcv.utils import ext_loader
        ext = ext_loader.load_ext('_ext', ['get_compiling_cuda_version'])
        if ext.get_compiling_cuda_version() != 'not available':
            return lambda x, rois, size, scale, s: roi_align(
                x, rois, size, scale, s, 'avg', True)
    except (ImportError, AssertionError, AttributeError):
        pass
    from torchvision.ops import roi_align as tv_roi_align
    return lambda x, rois, size, scale, s: tv_roi_align(
        x, rois, size, scale, s, aligned=True)


@pytest.mark.parametrize('impl', IMPLS)
def test_round_trip_with_roi_align_on_cuda(impl):
    """RoIAlign (sampling_ratio 2) of RoIUpsample's output returns value/4
    for isolated bins (>= 4 px), see test_roi_upsample.py."""
    roi_align = _roi_align_cuda()
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(3, 5, 4, 4, generator=gen, dtype=torch.float64)
    rois = torch.tensor(
        [[0, 5.2, 3.6, 37.2, 35.6], [0, 44.3, 40.1, 96.3, 92.1],
         [1, 9.9, 13.3, 47.9, 51.3]],
        dtype=torch.float64)
    out = roi_upsample(feats.cuda(), rois.cuda(), (2, 50, 50), 0.5, 2, impl)
    pooled = roi_align(out, rois.cuda(), (4, 4), 0.5, 2)
    torch.testing.assert_close(pooled.cpu() * 4, feats)


def test_inputs_on_two_devices_are_refused():
    with pytest.raises(ValueError, match='rois on cpu'):
        roi_upsample(
            torch.ones(1, 2, 2, 2, device=CUDA),
            torch.tensor([[0., 0, 0, 8, 8]]), (1, 4, 4))
