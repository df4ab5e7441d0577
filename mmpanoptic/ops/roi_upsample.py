"""RoIUpsample (AUNet, Li et al. CVPR 2019, sec. 3.3.2, eq. (5)-(6)).

RoIUpsample turns fixed-size RoI features (N, C, m, m) back into feature maps
(B, C, H, W): it is the normalised transpose of RoIAlign.

Geometry (identical to mmcv ``RoIAlign(aligned=True)``): a RoI
``(b, x1, y1, x2, y2)`` in image coordinates starts at
``x1 * spatial_scale - 0.5`` on the feature map and has width
``(x2 - x1) * spatial_scale``; it is cut into m x m bins and every bin holds
``s x s`` regularly spaced sample points (``s = sampling_ratio``, 2 in the
paper, i.e. "four regularly sampled points"), at the centres of the
``sm x sm`` sub-bins::

    x_p = x_start + (j + 0.5) * w / (s m),   j = 0 .. s m - 1

Forward (eq. (5)-(6)): every sample point p_g of bin (i, j) receives
``R(p_g) = value(i, j) / s^2`` and scatters it to its four neighbouring
pixels with the inverse-bilinear weights
``(1 - x)(1 - y) / (v_x v_y)``, ``x (1 - y) / (v_x v_y)``, ... where x, y are
the fractional offsets of p_g from its top-left neighbour and
``v_x = x^2 + (1 - x)^2``, ``v_y = y^2 + (1 - y)^2``. Bilinear sampling at
p_g of an isolated scattered point therefore returns ``R(p_g)`` exactly:
wherever sample points do not share pixels, the sum of the bilinear samples
of a bin's points (``s^2`` x RoIAlign's average, same geometry and sampling
ratio) recovers the bin value, and RoIAlign itself returns value / s^2.
Pixels no RoI reaches are zero; overlapping RoIs add.

Borders follow mmcv's bilinear convention so that RoIUpsample is exactly the
normalised transpose of mmcv RoIAlign: a sample point with a coordinate
outside ``[-1, size]`` is dropped; one in ``[-1, 0]`` is moved to 0; one in
``[size - 1, size]`` is moved to ``size - 1`` (then both neighbours are the
same pixel, the offset is 0 and ``v = 1``).

Backward is the exact gradient (adjoint) of that linear map: bilinear
gathering at the sample points with the same normalised weights, divided by
``s^2`` and summed over each bin's points. RoI coordinates get no gradient
(as in RoIAlign).

Three implementations share the geometry:

- ``'pytorch'``: the pure-PyTorch reference (``index_add_`` /
  ``index_select`` over all RoIs, points and corners at once), any device;
- ``'compiled'``: mmpanoptic's own kernels, built by ``setup.py``: C++ for
  CPU tensors (``mmpanoptic/ops/csrc/roi_upsample_cpu.cpp``) and CUDA for
  CUDA tensors (``mmpanoptic/ops/csrc/roi_upsample_cuda.cu``, built only
  where torch has CUDA and the CUDA toolkit is found, or with
  ``FORCE_CUDA=1``);
- ``'mmcv'``: mmcv's compiled RoIAlign kernels (RoIAlign on the ``sm x sm``
  grid with one sample per sub-bin has exactly the sample points above and
  its backward is the plain bilinear scatter), CPU or CUDA.

``'auto'`` picks ``'compiled'`` when it is built for the tensors' device,
else ``'mmcv'`` on CPU/CUDA when mmcv has its ops, else ``'pytorch'``.
"""
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from mmpanoptic.registry import MODELS

try:
    from mmcv.utils import ext_loader
    _ext_module = ext_loader.load_ext('_ext', [
        'roi_align_forward', 'roi_align_backward',
        'get_compiling_cuda_version'
    ])
except (ImportError, AssertionError, AttributeError):  # mmcv without ops
    _ext_module = None

try:
    from . import _roi_upsample_ext
except ImportError:  # not built (run `make install`): other paths remain
    _roi_upsample_ext = None

try:
    from . import _roi_upsample_cuda_ext
except ImportError:  # built only where torch has CUDA (see setup.py)
    _roi_upsample_cuda_ext = None

IMPLEMENTATIONS = ('auto', 'compiled', 'mmcv', 'pytorch')


def mmcv_kernel_available(device: torch.device) -> bool:
    """Whether mmcv's compiled RoIAlign kernels can run on ``device``."""
    if _ext_module is None:
        return False
    device_type = torch.device(device).type
    if device_type == 'cuda':
        # mmcv built without CUDA has only the CPU kernels
        return _ext_module.get_compiling_cuda_version() != 'not available'
    return device_type == 'cpu'


def _compiled_extension(device: torch.device) -> Optional[Any]:
    """mmpanoptic's compiled RoIUpsample extension for ``device`` (C++ for
    CPU, CUDA for CUDA), or None where it is not built."""
    return {
        'cpu': _roi_upsample_ext,
        'cuda': _roi_upsample_cuda_ext
    }.get(torch.device(device).type)


def compiled_kernel_available(device: torch.device) -> bool:
    """Whether mmpanoptic's compiled RoIUpsample kernels (C++ on CPU, CUDA
    on CUDA) can run on ``device``."""
    return _compiled_extension(device) is not None


def resolve_implementation(implementation: str,
                           device: torch.device) -> str:
    """The implementation ``'auto'`` stands for on ``device``; a clear error
    when the requested one cannot run there."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f'implementation must be one of '
                         f'{IMPLEMENTATIONS}, got {implementation!r}')
    if implementation == 'auto':
        if compiled_kernel_available(device):
            return 'compiled'
        if mmcv_kernel_available(device):
            return 'mmcv'
        return 'pytorch'
    if implementation == 'compiled' and not compiled_kernel_available(
            device):
        raise RuntimeError(
            'implementation="compiled" needs CPU tensors and the C++ '
            'extension mmpanoptic.ops._roi_upsample_ext, or CUDA tensors '
            'and the CUDA extension mmpanoptic.ops._roi_upsample_cuda_ext '
            '(both built by `make install` / `pip install -e .`, the CUDA '
            'one where torch has CUDA and the CUDA toolkit is found, or with '
            f'FORCE_CUDA=1); got {torch.device(device).type} tensors. Use '
            '"pytorch" otherwise')
    if implementation == 'mmcv' and not mmcv_kernel_available(device):
        raise RuntimeError('implementation="mmcv" needs mmcv built with ops '
                           'and CPU or CUDA tensors; use "pytorch"')
    return implementation


def _axis_sample_points(start: Tensor, length: Tensor, num_points: int,
                        size: int) -> Tuple[Tensor, ...]:
    """Sample points of every RoI along one axis, mmcv bilinear convention.

    Args:
        start (Tensor): (N,) RoI start on the feature map.
        length (Tensor): (N,) RoI extent on the feature map.
        num_points (int): points along the axis, ``s * m``.
        size (int): feature map extent along the axis.

    Returns:
        tuple[Tensor]: ``low`` and ``high`` neighbour indices (N, P) long,
        ``w_low`` / ``w_high`` bilinear weights (N, P), ``norm`` = eq. (6)
        ``w_low^2 + w_high^2`` (N, P) and ``valid`` (N, P) bool.
    """
    step = length / num_points
    index = torch.arange(num_points, device=start.device, dtype=start.dtype)
    # the same operation order as mmcv's kernels: start + j * bin + 0.5 * bin
    coord = start[:, None] + index[None, :] * step[:, None] + \
        0.5 * step[:, None]
    valid = (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0)
    low = coord.floor()
    at_end = low >= size - 1
    low = torch.where(at_end, torch.full_like(low, size - 1), low)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(coord), coord - low)
    w_low, w_high = 1 - frac, frac
    norm = w_low * w_low + w_high * w_high  # eq. (6): value_x, value_y
    return low.long(), high.long(), w_low, w_high, norm, valid


def roi_sample_geometry(rois: Tensor, roi_size: Tuple[int, int],
                        out_size: Tuple[int, int], spatial_scale: float,
                        sampling_ratio: int) -> dict:
    """Sample points, neighbours and eq. (5)-(6) weights of all RoIs.

    Args:
        rois (Tensor): (N, 5) ``(batch_index, x1, y1, x2, y2)``.
        roi_size (tuple[int]): (m_h, m_w) bins per RoI.
        out_size (tuple[int]): (H, W) of the feature map.
        spatial_scale (float): feature map size / image size.
        sampling_ratio (int): sample points per bin along each axis.

    Returns:
        dict: ``index`` (4, N, P_h, P_w) long flat indices into
        ``B * H * W`` of the four neighbours (top-left, top-right,
        bottom-left, bottom-right), ``weight`` (4, N, P_h, P_w) the
        normalised inverse-bilinear weights of eq. (5) (zero for dropped
        points) and ``point_scale`` (N, P_h, P_w) =
        ``valid / (s^2 v_x v_y)``, what each point's value is multiplied by
        before the plain bilinear scatter.
    """
    height, width = out_size
    points_h = roi_size[0] * sampling_ratio
    points_w = roi_size[1] * sampling_ratio
    batch_index = rois[:, 0].long()
    start_x = rois[:, 1] * spatial_scale - 0.5  # aligned=True
    start_y = rois[:, 2] * spatial_scale - 0.5
    len_x = (rois[:, 3] - rois[:, 1]) * spatial_scale
    len_y = (rois[:, 4] - rois[:, 2]) * spatial_scale
    y_low, y_high, wy_low, wy_high, norm_y, valid_y = _axis_sample_points(
        start_y, len_y, points_h, height)
    x_low, x_high, wx_low, wx_high, norm_x, valid_x = _axis_sample_points(
        start_x, len_x, points_w, width)

    valid = valid_y[:, :, None] & valid_x[:, None, :]
    # R(p_g) = value / s^2, divided by value_x * value_y: eq. (5)
    point_scale = valid.to(rois.dtype) / (
        sampling_ratio * sampling_ratio * norm_y[:, :, None] *
        norm_x[:, None, :])

    base = batch_index[:, None, None] * (height * width)
    rows = (y_low, y_low, y_high, y_high)
    cols = (x_low, x_high, x_low, x_high)
    row_w = (wy_low, wy_low, wy_high, wy_high)
    col_w = (wx_low, wx_high, wx_low, wx_high)
    index = torch.stack([
        base + r[:, :, None] * width + c[:, None, :]
        for r, c in zip(rows, cols)
    ])
    weight = torch.stack([
        rw[:, :, None] * cw[:, None, :] for rw, cw in zip(row_w, col_w)
    ]) * point_scale[None] * (sampling_ratio * sampling_ratio)
    # weight is the pure eq. (5) factor; the /s^2 split is applied to values
    return dict(index=index, weight=weight, point_scale=point_scale)


def roi_axis_footprints(rois: Tensor, roi_size: Tuple[int, int],
                        out_size: Tuple[int, int], spatial_scale: float,
                        sampling_ratio: int) -> Tuple[Tensor, Tensor]:
    """The rows and the columns each RoI's sample points scatter to with a
    non-zero eq. (5) weight (the geometry of :func:`roi_sample_geometry`).
    The weights are a row factor times a column factor, so the pixels
    RoIUpsample reaches from a RoI are the outer product of the two.

    Args:
        rois, roi_size, out_size, spatial_scale, sampling_ratio: as
            :func:`roi_sample_geometry`.

    Returns:
        tuple[Tensor, Tensor]: (N, H) and (N, W) bool.
    """
    footprints = []
    # (first, second coordinate column, bins, map size) of the y and x axes
    for first, second, bins, size in ((2, 4, roi_size[0], out_size[0]),
                                      (1, 3, roi_size[1], out_size[1])):
        start = rois[:, first] * spatial_scale - 0.5  # aligned=True
        length = (rois[:, second] - rois[:, first]) * spatial_scale
        low, high, w_low, w_high, _, valid = _axis_sample_points(
            start, length, bins * sampling_ratio, size)
        # dropped points and zero weights land in an extra column
        outside = torch.full_like(low, size)
        reached = torch.zeros((rois.shape[0], size + 1),
                              dtype=torch.bool,
                              device=rois.device)
        # the tensor form of scatter_ (jit tracing, e.g. the FLOP counter,
        # has no op for a bool scalar)
        marks = torch.ones_like(low, dtype=torch.bool)
        reached.scatter_(1, torch.where(valid & (w_low > 0), low, outside),
                         marks)
        reached.scatter_(1, torch.where(valid & (w_high > 0), high, outside),
                         marks)
        footprints.append(reached[:, :size])
    return footprints[0], footprints[1]


def _expand_to_points(roi_feats: Tensor, sampling_ratio: int) -> Tensor:
    """(N, C, m_h, m_w) -> (N, C, s m_h, s m_w): each bin value on its
    ``s x s`` points."""
    return roi_feats.repeat_interleave(sampling_ratio, dim=2) \
        .repeat_interleave(sampling_ratio, dim=3)


def _sum_over_bins(point_values: Tensor, sampling_ratio: int) -> Tensor:
    """(N, C, s m_h, s m_w) -> (N, C, m_h, m_w): sum of each bin's points."""
    n, c, ph, pw = point_values.shape
    s = sampling_ratio
    return point_values.reshape(n, c, ph // s, s, pw // s, s).sum((3, 5))


def _scatter_pytorch(point_values: Tensor, geometry: dict,
                     out_shape: Tuple[int, int, int, int]) -> Tensor:
    """Pure-PyTorch forward: eq. (5) scatter of (N, C, P_h, P_w) point
    values (already divided by s^2) into (B, C, H, W)."""
    batch, channels, height, width = out_shape
    out = point_values.new_zeros(batch * height * width, channels)
    values = point_values.permute(0, 2, 3, 1)  # (N, P_h, P_w, C)
    for corner_index, corner_weight in zip(geometry['index'],
                                           geometry['weight']):
        out.index_add_(0, corner_index.reshape(-1),
                       (values * corner_weight[..., None]).reshape(
                           -1, channels))
    return out.reshape(batch, height, width,
                       channels).permute(0, 3, 1, 2).contiguous()


def _gather_pytorch(grad_out: Tensor, geometry: dict) -> Tensor:
    """Pure-PyTorch adjoint of :func:`_scatter_pytorch`: (B, C, H, W) ->
    (N, C, P_h, P_w)."""
    channels = grad_out.shape[1]
    flat = grad_out.permute(0, 2, 3, 1).reshape(-1, channels)
    n, ph, pw = geometry['index'].shape[1:]
    grad_points = flat.new_zeros(n, ph, pw, channels)
    for corner_index, corner_weight in zip(geometry['index'],
                                           geometry['weight']):
        grad_points += flat.index_select(0, corner_index.reshape(-1)).reshape(
            n, ph, pw, channels) * corner_weight[..., None]
    return grad_points.permute(0, 3, 1, 2)


def _point_scale_view(geometry: dict, roi_size: Tuple[int, int],
                      sampling_ratio: int) -> Tensor:
    """point_scale (N, P_h, P_w) as (N, 1, m_h, s, m_w, s)."""
    n = geometry['point_scale'].shape[0]
    s = sampling_ratio
    return geometry['point_scale'].view(n, 1, roi_size[0], s, roi_size[1], s)


def _scatter_mmcv(roi_feats: Tensor, rois: Tensor, geometry: dict,
                  out_shape: Tuple[int, int, int, int], spatial_scale: float,
                  sampling_ratio: int) -> Tensor:
    """Forward with mmcv's RoIAlign backward kernel (bilinear scatter of one
    point per sub-bin) after the per-point eq. (5)-(6) normalisation."""
    n, c, mh, mw = roi_feats.shape
    s = sampling_ratio
    # one pass: bin value on its s x s points times valid / (s^2 v_x v_y)
    point_values = (roi_feats[:, :, :, None, :, None] *
                    _point_scale_view(geometry, (mh, mw), s)).reshape(
                        n, c, mh * s, mw * s)
    out = roi_feats.new_zeros(out_shape)
    empty = roi_feats.new_zeros(0)
    _ext_module.roi_align_backward(
        point_values, rois, empty, empty, out, aligned_height=mh * s,
        aligned_width=mw * s, spatial_scale=spatial_scale, sampling_ratio=1,
        pool_mode=1, aligned=True)
    return out


def _gather_mmcv(grad_out: Tensor, rois: Tensor, geometry: dict,
                 roi_size: Tuple[int, int], spatial_scale: float,
                 sampling_ratio: int) -> Tensor:
    """Adjoint of :func:`_scatter_mmcv` with mmcv's RoIAlign forward kernel
    (bilinear gathering at the same points): (B, C, H, W) -> (N, C, m, m)."""
    n, ph, pw = geometry['point_scale'].shape
    s = sampling_ratio
    gathered = grad_out.new_zeros(n, grad_out.shape[1], ph, pw)
    empty = grad_out.new_zeros(0)
    _ext_module.roi_align_forward(
        grad_out, rois, gathered, empty, empty, aligned_height=ph,
        aligned_width=pw, spatial_scale=spatial_scale, sampling_ratio=1,
        pool_mode=1, aligned=True)
    return gathered.view(n, -1, roi_size[0], s, roi_size[1], s).mul_(
        _point_scale_view(geometry, roi_size, s)).sum((3, 5))


def _check_inputs(roi_feats: Tensor, rois: Tensor,
                  out_shape: Sequence[int], sampling_ratio: int) -> None:
    if roi_feats.dim() != 4:
        raise ValueError('RoIUpsample expects roi_feats of shape '
                         f'(N, C, m, m), got {tuple(roi_feats.shape)}')
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError('RoIUpsample expects rois of shape (N, 5) '
                         '(batch_index, x1, y1, x2, y2), got '
                         f'{tuple(rois.shape)}')
    if rois.device != roi_feats.device:
        raise ValueError(f'RoIUpsample got roi_feats on {roi_feats.device} '
                         f'but rois on {rois.device}')
    if rois.shape[0] != roi_feats.shape[0]:
        raise ValueError(f'RoIUpsample got {roi_feats.shape[0]} RoI '
                         f'features but {rois.shape[0]} RoIs')
    if len(out_shape) != 3 or min(out_shape) <= 0:
        raise ValueError('out_shape must be (batch_size, height, width) '
                         f'with positive entries, got {tuple(out_shape)}')
    if int(sampling_ratio) != sampling_ratio or sampling_ratio < 1:
        raise ValueError('sampling_ratio must be a positive integer, got '
                         f'{sampling_ratio}')
    if rois.numel() > 0:
        batch_index = rois[:, 0]
        # one device -> host copy for both checks (a CUDA sync each)
        bad_index, bad_box = torch.stack([
            ((batch_index < 0) | (batch_index >= out_shape[0])).any(),
            ((rois[:, 3] < rois[:, 1]) | (rois[:, 4] < rois[:, 2])).any()
        ]).tolist()
        if bad_index:
            raise ValueError('RoI batch indices must lie in [0, '
                             f'{out_shape[0]}), got '
                             f'{batch_index.min().item()}..'
                             f'{batch_index.max().item()}')
        if bad_box:
            raise ValueError('RoIs must satisfy x2 >= x1 and y2 >= y1')


class RoIUpsampleFunction(Function):
    """Autograd function of RoIUpsample with the exact adjoint backward."""

    @staticmethod
    def forward(ctx: Any, roi_feats: Tensor, rois: Tensor,
                out_shape: Tuple[int, int, int], spatial_scale: float,
                sampling_ratio: int, implementation: str) -> Tensor:
        _check_inputs(roi_feats, rois, out_shape, sampling_ratio)
        implementation = resolve_implementation(implementation,
                                                roi_feats.device)
        batch, height, width = (int(v) for v in out_shape)
        full_shape = (batch, roi_feats.shape[1], height, width)
        rois = rois.to(roi_feats.dtype).contiguous()
        ctx.implementation = implementation
        ctx.spatial_scale = spatial_scale
        ctx.sampling_ratio = sampling_ratio
        ctx.roi_feats_shape = roi_feats.shape
        ctx.save_for_backward(rois)
        if rois.shape[0] == 0:
            return roi_feats.new_zeros(full_shape)
        if implementation == 'compiled':
            out = roi_feats.new_zeros(full_shape)
            _compiled_extension(roi_feats.device).roi_upsample_forward(
                roi_feats.contiguous(), rois, out, spatial_scale,
                sampling_ratio)
            return out
        geometry = roi_sample_geometry(
            rois, tuple(roi_feats.shape[2:]), (height, width), spatial_scale,
            sampling_ratio)
        ctx.geometry = geometry
        if implementation == 'mmcv':
            # point_scale already holds R(p_g) = value / s^2 (eq. (5))
            return _scatter_mmcv(roi_feats, rois, geometry, full_shape,
                                 spatial_scale, sampling_ratio)
        # R(p_g) = value / s^2 (eq. (5)); s^2 = 4 in the paper
        point_values = _expand_to_points(roi_feats, sampling_ratio) / (
            sampling_ratio * sampling_ratio)
        return _scatter_pytorch(point_values, geometry, full_shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor) -> tuple:
        rois, = ctx.saved_tensors
        s = ctx.sampling_ratio
        grad_out = grad_out.contiguous()
        if rois.shape[0] == 0:
            grad_feats = grad_out.new_zeros(ctx.roi_feats_shape)
        elif ctx.implementation == 'compiled':
            grad_feats = grad_out.new_zeros(ctx.roi_feats_shape)
            _compiled_extension(grad_out.device).roi_upsample_backward(
                grad_out, rois, grad_feats, ctx.spatial_scale, s)
        elif ctx.implementation == 'mmcv':
            grad_feats = _gather_mmcv(grad_out, rois, ctx.geometry,
                                      tuple(ctx.roi_feats_shape[2:]),
                                      ctx.spatial_scale, s)
        else:
            grad_points = _gather_pytorch(grad_out, ctx.geometry)
            grad_feats = _sum_over_bins(grad_points, s) / (s * s)
        return grad_feats, None, None, None, None, None


def roi_upsample(roi_feats: Tensor,
                 rois: Tensor,
                 out_shape: Sequence[int],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 2,
                 implementation: str = 'auto') -> Tensor:
    """RoIUpsample, eq. (5)-(6) of AUNet.

    Args:
        roi_feats (Tensor): (N, C, m_h, m_w) RoI features (e.g. mask
            features, m = 14 or 28).
        rois (Tensor): (N, 5) ``(batch_index, x1, y1, x2, y2)`` in image
            coordinates.
        out_shape (Sequence[int]): ``(B, H, W)`` of the output map.
        spatial_scale (float): output map size / image size (1 / stride).
        sampling_ratio (int): sample points per bin per axis (2: four
            points per bin as in the paper).
        implementation (str): ``'auto'`` (the compiled kernels of the
            tensors' device when built, else mmcv's when available, else
            the reference), ``'compiled'``, ``'mmcv'`` or ``'pytorch'``
            (the reference).

    Returns:
        Tensor: (B, C, H, W) upsampled features, zero where no RoI reaches.
    """
    # plain ints: under torch.jit.trace (e.g. mmengine's FLOP counter)
    # sizes read from tensor shapes are traced 0-dim tensors, which an
    # autograd Function cannot take as a non-tensor argument
    out_shape = tuple(int(v) for v in out_shape)
    return RoIUpsampleFunction.apply(roi_feats, rois, out_shape,
                                     float(spatial_scale),
                                     int(sampling_ratio), implementation)


@MODELS.register_module()
class RoIUpsample(nn.Module):
    """RoIUpsample layer: the normalised inverse of RoIAlign (AUNet).

    Args:
        spatial_scale (float): output map size / image size.
        sampling_ratio (int): sample points per bin per axis; 2 in the
            paper.
        implementation (str): ``'auto'``, ``'compiled'``, ``'mmcv'`` or
            ``'pytorch'`` (see :func:`roi_upsample`).
    """

    def __init__(self,
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 2,
                 implementation: str = 'auto') -> None:
        super().__init__()
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f'implementation must be one of '
                             f'{IMPLEMENTATIONS}, got {implementation!r}')
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.implementation = implementation

    def forward(self,
                roi_feats: Tensor,
                rois: Tensor,
                out_shape: Sequence[int],
                spatial_scale: Optional[float] = None) -> Tensor:
        """(N, C, m, m) RoI features, (N, 5) RoIs -> (B, C, H, W) with
        ``out_shape = (B, H, W)``."""
        scale = self.spatial_scale if spatial_scale is None else spatial_scale
        return roi_upsample(roi_feats, rois, out_shape, scale,
                            self.sampling_ratio, self.implementation)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(spatial_scale='
                f'{self.spatial_scale}, sampling_ratio={self.sampling_ratio},'
                f' implementation={self.implementation!r})')
