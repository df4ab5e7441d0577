"""Decisions on bilinearly upsampled maps without the upsampled maps.

Inference post-processing of the dense methods upsamples low-resolution
maps to the image and then only keeps a decision per pixel: the channel
argmax of logits (Unifying's ``argmax(P)``, semantic labels, Panoptic FCN's
stuff labels) or a threshold of mask probabilities (Panoptic FCN's masks).
The upsampling is the mmdet/mmseg one: bilinear (``align_corners=False``) by
``stride`` to the padded input, crop to the image, and bilinear again to the
output size when that differs (``rescale``).

The reference is exactly that, with ``F.interpolate``, chunked over channels
(:func:`upsample_argmax_reference`, :func:`upsample_threshold_reference`).
On CPU, when the C++ kernels (``mmpanoptic/ops/csrc/resample_cpu.cpp``,
built by ``setup.py``) are available, the same resampling is evaluated per
output row from its taps and decided at once: no full-size float map is
written, and output pixels whose taps already decide the result (all mask
taps above or below the threshold; channels whose largest tap cannot reach
another channel's smallest) are not evaluated. The two agree up to float
rounding (an argmax may differ only where two channels tie within ~1e-6).
"""
from functools import lru_cache
from typing import Iterable, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

try:
    from . import _resample_ext
except ImportError:  # not built (run `make install`): the reference remains
    _resample_ext = None

IMPLEMENTATIONS = ('auto', 'compiled', 'pytorch')


def compiled_resample_available(device: torch.device) -> bool:
    """Whether the C++ resample kernels can run on ``device``."""
    return _resample_ext is not None and torch.device(device).type == 'cpu'


def _use_compiled(maps: Tensor, implementation: str) -> bool:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f'implementation must be one of {IMPLEMENTATIONS}, '
                         f'got {implementation!r}')
    if implementation == 'pytorch':
        return False
    available = compiled_resample_available(maps.device)
    if implementation == 'compiled' and not available:
        raise RuntimeError(
            'implementation="compiled" needs CPU tensors and the C++ '
            'extension mmpanoptic.ops._resample_ext (built by `make install` '
            '/ `pip install -e .`); use "pytorch" otherwise')
    return available


def _axis_resampling(in_len: int, stride: int, valid_len: int,
                     out_len: int) -> Tensor:
    """(out_len, in_len) weights of the 1-D resampling along one axis, made
    by running the reference's F.interpolate calls on the identity (a
    (1, in_len, in_len, 1) map: channel i is the i-th basis vector)."""
    basis = torch.eye(in_len)[None, :, :, None]
    matrix = F.interpolate(
        basis, size=(in_len * stride, 1), mode='bilinear',
        align_corners=False)[:, :, :valid_len]
    if valid_len != out_len:
        matrix = F.interpolate(
            matrix, size=(out_len, 1), mode='bilinear', align_corners=False)
    return matrix[0, :, :, 0].t()  # (out_len, in_len)


def resampling_taps(in_len: int, stride: int, valid_len: int,
                    out_len: int) -> Tuple[Tensor, Tensor]:
    """Taps of the reference's upsampling along one axis.

    Returns:
        tuple[Tensor, Tensor]: (out_len, T) int64 input indices and float32
        weights: output ``o`` is ``sum_t weight[o, t] * input[index[o, t]]``.
        Rows with fewer than T taps repeat their first index with weight 0.
    """
    matrix = _axis_resampling(in_len, stride, valid_len, out_len)
    nonzero = matrix != 0
    num_taps = max(int(nonzero.sum(dim=1).max()), 1)
    # nonzero columns first, in increasing index order
    order = torch.argsort((~nonzero).to(torch.uint8), dim=1, stable=True)
    index = order[:, :num_taps].contiguous()
    weight = matrix.gather(1, index)
    padding = ~nonzero.gather(1, index)
    index = torch.where(padding, index[:, :1], index).contiguous()
    weight = weight.masked_fill(padding, 0).contiguous()
    return index, weight


@lru_cache(maxsize=64)
def _shared_taps(in_len: int, stride: int, valid_len: int,
                 out_len: int) -> Tuple[Tensor, Tensor]:
    """:func:`resampling_taps`, computed once per geometry (inference
    repeats a few geometries; making the taps costs about as much as the
    kernels that use them). Shared: callers must not modify them."""
    return resampling_taps(in_len, stride, valid_len, out_len)


def _taps_2d(shape: Tuple[int, int], stride: int, valid_size: Tuple[int, int],
             out_size: Tuple[int, int]) -> Tuple[Tensor, ...]:
    rows = _shared_taps(int(shape[0]), int(stride), int(valid_size[0]),
                        int(out_size[0]))
    cols = _shared_taps(int(shape[1]), int(stride), int(valid_size[1]),
                        int(out_size[1]))
    return (*rows, *cols)


def _check_geometry(maps: Tensor, valid_size: Tuple[int, int],
                    stride: int) -> None:
    height, width = maps.shape[-2:]
    if int(valid_size[0]) > height * stride or int(
            valid_size[1]) > width * stride:
        raise ValueError(
            f'valid size {tuple(valid_size)} exceeds the upsampled map '
            f'{(height * stride, width * stride)} ({height}x{width} x '
            f'stride {stride})')


def upsample_valid(maps: Tensor, valid_size: Tuple[int, int],
                   stride: int) -> Tensor:
    """(C, h, w) -> (C, H_valid, W_valid): bilinear x ``stride``, cropped to
    the image inside the padding (the reference's first step)."""
    height, width = maps.shape[-2:]
    return F.interpolate(
        maps[None], size=(height * stride, width * stride), mode='bilinear',
        align_corners=False)[0, :, :int(valid_size[0]), :int(valid_size[1])]


def argmax_over_chunks(chunks: Iterable[Tuple[int, Tensor]],
                       valid_size: Tuple[int, int],
                       out_size: Tuple[int, int], like: Tensor) -> Tensor:
    """Channel argmax of ``(first channel, (c, H_valid, W_valid) values)``
    chunks, each resized to ``out_size``; -1 where there is no chunk."""
    best_index = like.new_full(tuple(out_size), -1, dtype=torch.long)
    best_value = like.new_full(tuple(out_size), float('-inf'))
    resize = tuple(int(v) for v in valid_size) != tuple(
        int(v) for v in out_size)
    for start, values in chunks:
        if resize:
            values = F.interpolate(
                values[None], size=tuple(out_size), mode='bilinear',
                align_corners=False)[0]
        value, index = values.max(dim=0)
        better = value > best_value
        best_value = torch.where(better, value, best_value)
        best_index = torch.where(better, index + start, best_index)
    return best_index


def upsample_argmax_reference(logits: Tensor, valid_size: Tuple[int, int],
                              out_size: Tuple[int, int], stride: int,
                              chunk_channels: int = 16) -> Tensor:
    """The reference of :func:`upsample_argmax`: F.interpolate and max,
    ``chunk_channels`` channels at a time."""
    chunks = ((start,
               upsample_valid(logits[start:start + chunk_channels],
                              valid_size, stride))
              for start in range(0, logits.shape[0], chunk_channels))
    return argmax_over_chunks(chunks, valid_size, out_size, logits)


def upsample_argmax(logits: Tensor,
                    valid_size: Tuple[int, int],
                    out_size: Tuple[int, int],
                    stride: int,
                    implementation: str = 'auto') -> Tensor:
    """Argmax over channels of logits upsampled bilinearly to full size.

    Args:
        logits (Tensor): (K, h, w) logits at ``stride`` (K may be 0).
        valid_size (tuple[int, int]): image size (before padding) in input
            pixels; the x``stride`` map is cropped to it.
        out_size (tuple[int, int]): output size (e.g. the original image).
        stride (int): input pixels per logit pixel.
        implementation (str): 'auto' (the C++ kernel for CPU float32 when
            built, else the reference), 'compiled' or 'pytorch'.

    Returns:
        Tensor: (H_out, W_out) long channel index (the first channel wins
        ties), -1 when K == 0.
    """
    _check_geometry(logits, valid_size, stride)
    out_size = tuple(int(v) for v in out_size[:2])
    if logits.shape[0] == 0:
        return logits.new_full(out_size, -1, dtype=torch.long)
    if _use_compiled(logits, implementation) and (
            logits.dtype == torch.float32):
        return _resample_ext.resample_argmax(
            logits.contiguous(),
            *_taps_2d(logits.shape[-2:], stride, valid_size, out_size))
    return upsample_argmax_reference(logits, valid_size, out_size, stride)


def upsample_threshold_reference(probs: Tensor, valid_size: Tuple[int, int],
                                 out_size: Tuple[int, int], stride: int,
                                 threshold: float) -> Tensor:
    """The reference of :func:`upsample_threshold`: F.interpolate and >."""
    values = upsample_valid(probs, valid_size, stride)
    if tuple(values.shape[-2:]) != tuple(out_size):
        values = F.interpolate(
            values[None], size=tuple(out_size), mode='bilinear',
            align_corners=False)[0]
    return values > threshold


def upsample_threshold(probs: Tensor,
                       valid_size: Tuple[int, int],
                       out_size: Tuple[int, int],
                       stride: int,
                       threshold: float,
                       implementation: str = 'auto') -> Tensor:
    """Binary masks: probabilities upsampled bilinearly to full size (as in
    :func:`upsample_argmax`), ``> threshold``.

    Args:
        probs (Tensor): (M, h, w) maps at ``stride`` (M may be 0).
        threshold (float): a pixel is in the mask where its value is above.

    Returns:
        Tensor: (M, H_out, W_out) bool.
    """
    _check_geometry(probs, valid_size, stride)
    out_size = tuple(int(v) for v in out_size[:2])
    if probs.shape[0] == 0:
        return probs.new_zeros((0, *out_size), dtype=torch.bool)
    if _use_compiled(probs, implementation) and (
            probs.dtype == torch.float32):
        return _resample_ext.resample_threshold(
            probs.contiguous(),
            *_taps_2d(probs.shape[-2:], stride, valid_size, out_size),
            float(threshold))
    return upsample_threshold_reference(probs, valid_size, out_size, stride,
                                        threshold)
