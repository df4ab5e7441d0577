"""COCO panoptic PNGs (segment id = R + 256 G + 256^2 B) read for counting,
and the compiled counting path of panoptic quality.

A panoptic PNG is an 8-bit RGB(A) image of large flat regions, so its zlib
stream inflates fast with libdeflate (the ``deflate`` package) and its rows
are unfiltered by the compiled kernel (``csrc/panoptic_count_cpu.cpp``)
while it counts them against the other label map (:func:`joint_histogram`):
no decoded image is written. The same kernel matches the segments of one
image (:func:`image_pq_stats`). Interlaced PNGs, and installs without the
kernel or ``deflate``, are decoded with OpenCV and counted with numpy
(``panoptic_quality.py``), with the same results.
"""
import struct
from typing import NamedTuple, Tuple, Union

import cv2
import numpy as np

from .panoptic_quality import (FIRST_SEGMENT_ROW, GroundTruthSegments,
                               PanopticImageStats, match_segments,
                               segment_rows)

try:
    import deflate
except ImportError:  # a runtime requirement; without it OpenCV decodes
    deflate = None

try:
    from . import _panoptic_count_ext
except ImportError:  # not built (run `make install`): numpy remains
    _panoptic_count_ext = None

_NUM_PNG_IDS = 256**3
_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_CHANNELS = {2: 3, 6: 4}  # PNG colour type -> channels (RGB, RGBA)


class PngRows(NamedTuple):
    """The inflated, still filtered rows of an 8-bit RGB(A) PNG: what the
    counting kernel reads.

    Attributes:
        data (bytearray): ``height * (1 + width * channels)`` bytes.
        height (int): H.
        width (int): W.
        channels (int): 3 (RGB) or 4 (RGBA).
    """
    data: bytearray
    height: int
    width: int
    channels: int

    @property
    def shape(self) -> Tuple[int, int]:
        return self.height, self.width


def compiled_counting_available() -> bool:
    """Whether the compiled counting kernel is built."""
    return _panoptic_count_ext is not None


def read_panoptic_png(png_bytes: bytes,
                      name: str = '') -> Union[PngRows, np.ndarray]:
    """A panoptic PNG, ready to be counted.

    Args:
        png_bytes (bytes): the file's content.
        name (str): the file, for error messages.

    Returns:
        PngRows | np.ndarray: the inflated rows of a non-interlaced 8-bit
        RGB(A) PNG when the compiled kernel is built; otherwise the decoded
        (H, W) uint32 ids (:func:`decode_panoptic_png`).

    Raises:
        ValueError: on a file that is not a PNG, is truncated or corrupt, or
            is not an 8-bit RGB(A) image.
    """
    rows = _png_rows(png_bytes, name) if _panoptic_count_ext is not None \
        and deflate is not None else None
    if rows is None:
        return _decode_with_opencv(png_bytes, name)
    return rows


def decode_panoptic_png(png_bytes: bytes, name: str = '') -> np.ndarray:
    """Decode a COCO panoptic PNG to segment ids.

    Returns:
        np.ndarray: (H, W) uint32, ``id = R + 256 G + 256^2 B``.
    """
    png = read_panoptic_png(png_bytes, name)
    return png_ids(png) if isinstance(png, PngRows) else png


def png_ids(rows: PngRows) -> np.ndarray:
    """(H, W) uint32 ids ``R + 256 G + 256^2 B`` of PNG rows."""
    return _panoptic_count_ext.png_values(rows)


def _png_rows(png_bytes: bytes, name: str):
    """PngRows of a non-interlaced 8-bit RGB(A) PNG; None for the other
    PNGs that OpenCV can decode (interlaced); raises on the rest."""
    if png_bytes[:8] != _SIGNATURE:
        raise ValueError(f'Panoptic PNG {name!r} is not a PNG file (its '
                         f'first bytes are {bytes(png_bytes[:8])!r}).')
    header, idat = None, []
    position, size = 8, len(png_bytes)
    while position + 8 <= size:
        length, kind = struct.unpack_from('>I4s', png_bytes, position)
        start = position + 8
        if start + length + 4 > size:
            break
        if kind == b'IHDR':
            header = struct.unpack_from('>IIBBBBB', png_bytes, start)
        elif kind == b'IDAT':
            idat.append(png_bytes[start:start + length])
        elif kind == b'IEND':
            break
        position = start + length + 4  # data + CRC
    if header is None or not idat:
        raise ValueError(f'Panoptic PNG {name!r} is truncated or corrupt '
                         f'(no image header or no image data).')
    width, height, bit_depth, colour_type, _, _, interlace = header
    channels = _CHANNELS.get(colour_type)
    if channels is None or bit_depth != 8:
        raise ValueError(
            f'Panoptic PNG {name!r} is not an 8-bit RGB(A) image (PNG '
            f'colour type {colour_type}, bit depth {bit_depth}); segment ids '
            f'are R + 256 G + 256^2 B of 8-bit RGB pixels.')
    if interlace:
        return None
    expected = height * (1 + width * channels)
    try:
        data = deflate.zlib_decompress(b''.join(idat), expected)
    except deflate.DeflateError:
        data = None
    if data is None or len(data) != expected:
        raise ValueError(f'Panoptic PNG {name!r} is truncated or corrupt '
                         f'(its image data does not inflate to {width}x'
                         f'{height} pixels).')
    return PngRows(data, height, width, channels)


def _decode_with_opencv(png_bytes: bytes, name: str) -> np.ndarray:
    image = cv2.imdecode(
        np.frombuffer(png_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] not in (3, 4) \
            or image.dtype != np.uint8:
        raise ValueError(
            f'Panoptic PNG {name!r} is not an 8-bit RGB(A) image '
            f'(decoded shape {None if image is None else image.shape}, '
            f'dtype {None if image is None else image.dtype}).')
    code = cv2.COLOR_BGR2RGBA if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
    rgba = np.ascontiguousarray(cv2.cvtColor(image, code))
    ids = rgba.view(np.uint32)[..., 0]
    if np.little_endian:
        np.bitwise_and(ids, _NUM_PNG_IDS - 1, out=ids)
    else:  # pragma: no cover - big-endian hosts
        ids = np.ascontiguousarray(ids.byteswap() >> 8)
    return ids


LabelMap = Union[PngRows, np.ndarray]


def map_shape(label_map: LabelMap) -> Tuple[int, ...]:
    """(H, W) of an array or of PNG rows."""
    return tuple(label_map.shape)


def joint_histogram(
        first: LabelMap,
        second: LabelMap) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts of every pair of values of two label maps of one size.

    Args:
        first, second (PngRows | np.ndarray): (H, W) non-negative integer
            arrays or PNG rows (:func:`read_panoptic_png`).

    Returns:
        tuple: the distinct values of each map, increasing (int64 (A,) and
        (B,)), and the (A, B) int64 pixel counts of every pair.

    Raises:
        ValueError: on maps of different sizes or negative values.
    """
    if map_shape(first) != map_shape(second):
        raise ValueError(f'Label maps of different sizes: '
                         f'{map_shape(first)} and {map_shape(second)}.')
    if _panoptic_count_ext is not None:
        return _panoptic_count_ext.joint_histogram(
            _kernel_input(first), _kernel_input(second))
    first_values, first_index = _distinct(first)
    second_values, second_index = _distinct(second)
    key = first_index * len(second_values) + second_index
    counts = np.bincount(
        key, minlength=len(first_values) * len(second_values))
    return first_values, second_values, counts.reshape(
        len(first_values), len(second_values))


def _kernel_input(label_map: LabelMap):
    if isinstance(label_map, PngRows):
        return label_map
    if label_map.dtype.kind not in 'iu' or label_map.ndim != 2:
        raise ValueError(f'A label map must be a 2-D integer array; got '
                         f'{label_map.ndim}-D {label_map.dtype}.')
    if not label_map.dtype.isnative:
        label_map = label_map.astype(label_map.dtype.newbyteorder('='))
    return np.ascontiguousarray(label_map)


def _distinct(label_map: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Increasing distinct values (int64) and the index of every pixel."""
    flat = label_map.reshape(-1)
    if flat.dtype.kind not in 'iu':
        raise ValueError(f'A label map must hold integers; got {flat.dtype}.')
    if flat.size and flat.dtype.kind == 'i' and flat.min() < 0:
        raise ValueError(f'label map has a negative value ({flat.min()}).')
    values, index = np.unique(flat, return_inverse=True)
    return values.astype(np.int64), index.reshape(-1)


def image_pq_stats(gt_values: np.ndarray, counts: np.ndarray,
                   gt: GroundTruthSegments, pred_labels: np.ndarray,
                   pred_is_void: np.ndarray, num_classes: int
                   ) -> Tuple[PanopticImageStats, np.ndarray]:
    """panopticapi's counts of one image from :func:`joint_histogram` of its
    GT ids and predicted values.

    Args:
        gt_values (np.ndarray): (A,) the GT ids present, increasing.
        counts (np.ndarray): (A, P) pixel counts.
        gt (GroundTruthSegments): the K GT segments (areas None: counted
            in the PNG).
        pred_labels (np.ndarray): (P,) int64 class label of each column.
        pred_is_void (np.ndarray): (P,) bool, columns that are VOID.
        num_classes (int): C.

    Returns:
        tuple: the image's :class:`PanopticImageStats` and the (K,) int64
        pixel counts of the GT segments in the PNG.
    """
    if _panoptic_count_ext is not None:
        areas = np.zeros(0, np.int64) if gt.areas is None else gt.areas
        *stats, png_areas = _panoptic_count_ext.match_image(
            gt_values, counts, gt.ids, gt.labels, areas, gt.iscrowd,
            pred_labels.astype(np.int64, copy=False),
            pred_is_void.astype(bool, copy=False), num_classes)
        return PanopticImageStats(*stats), png_areas
    joint = segment_rows(gt_values, counts, gt.ids)
    png_areas = joint[FIRST_SEGMENT_ROW:].sum(axis=1)
    if gt.areas is None:
        gt = gt._replace(areas=png_areas)
    return match_segments(joint, gt, pred_labels, pred_is_void,
                          num_classes), png_areas
