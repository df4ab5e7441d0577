"""The panoptic PNG reader and the joint-histogram kernel against PIL
(panopticapi's decoder) and numpy."""
import io
import os.path as osp

import cv2
import numpy as np
import pytest
from panopticapi.utils import rgb2id
from PIL import Image

from mmpanoptic.evaluation.functional import (PngRows,
                                              compiled_counting_available,
                                              decode_panoptic_png,
                                              joint_histogram,
                                              read_panoptic_png)
from mmpanoptic.evaluation.functional import panoptic_png
from mmpanoptic.utils import id2rgb
from .panoptic_cases import encode_png
from .test_panoptic_metric import COCO_SAMPLE


def _pil_ids(png_bytes: bytes) -> np.ndarray:
    """What panopticapi reads: PIL, then rgb2id."""
    return rgb2id(np.array(Image.open(io.BytesIO(png_bytes)), np.uint32))


def _panoptic_pixels(rng, height, width, channels):
    """Flat regions (as panoptic PNGs) or noise (every byte pattern)."""
    if rng.random() < 0.5:
        palette = rng.integers(0, 256, (int(rng.integers(1, 6)), channels))
        index = rng.integers(0, len(palette), (height, width))
        # grow regions: repeat rows and columns
        index = np.repeat(np.repeat(index, 3, 0), 3, 1)[:height, :width]
        return palette[index].astype(np.uint8)
    return rng.integers(0, 256, (height, width, channels)).astype(np.uint8)


def _reference_histogram(first: np.ndarray, second: np.ndarray):
    a_values, a_index = np.unique(first, return_inverse=True)
    b_values, b_index = np.unique(second, return_inverse=True)
    counts = np.zeros((len(a_values), len(b_values)), np.int64)
    np.add.at(counts, (a_index.reshape(-1), b_index.reshape(-1)), 1)
    return a_values, b_values, counts


def test_compiled_kernel_is_built():
    """`pip install -e .` (make install) builds it; without it the numpy
    path runs, much slower."""
    assert compiled_counting_available()


@pytest.mark.parametrize('channels', [3, 4])
def test_every_filter_type_reads_as_panopticapi(channels):
    rng = np.random.default_rng(channels)
    for case in range(80):
        height, width = (int(v) for v in rng.integers(1, 40, size=2))
        pixels = _panoptic_pixels(rng, height, width, channels)
        filters = None if case >= 5 else case  # all rows of one type first
        png = encode_png(pixels, rng, filters=filters,
                         idat_chunks=int(rng.integers(1, 4)))
        rows = read_panoptic_png(png, 'case.png')
        assert isinstance(rows, PngRows) and rows.channels == channels
        np.testing.assert_array_equal(
            decode_panoptic_png(png, 'case.png'), _pil_ids(png))


def test_interlaced_png_is_decoded_by_opencv():
    rng = np.random.default_rng(1)
    pixels = _panoptic_pixels(rng, 19, 23, 3)
    png = encode_png(pixels, rng, interlace=True)
    decoded = read_panoptic_png(png, 'adam7.png')
    assert isinstance(decoded, np.ndarray) and decoded.dtype == np.uint32
    np.testing.assert_array_equal(decoded, _pil_ids(png))


def test_real_coco_and_opencv_pngs_read_as_panopticapi(tmp_path):
    paths = [
        osp.join(COCO_SAMPLE, folder, name)
        for folder in ('panoptic_examples', 'panoptic_examples_2ch_format')
        for name in ('000000142238.png', '000000439180.png')
    ]
    ids = np.random.default_rng(0).integers(0, 256**3, (31, 47))
    cv2.imwrite(str(tmp_path / 'cv2.png'), id2rgb(ids)[..., ::-1])
    Image.fromarray(id2rgb(ids)).save(tmp_path / 'pil.png')
    for path in paths + [str(tmp_path / 'cv2.png'), str(tmp_path / 'pil.png')]:
        with open(path, 'rb') as f:
            png = f.read()
        assert isinstance(read_panoptic_png(png, path), PngRows)
        np.testing.assert_array_equal(decode_panoptic_png(png, path),
                                      _pil_ids(png))


@pytest.mark.parametrize('compiled', [True, False])
def test_joint_histogram_equals_numpy(compiled, monkeypatch):
    """Arrays of every integer type, PNG rows, values above 2^16, more
    than 255 distinct values, both with the kernel and without."""
    if not compiled:
        monkeypatch.setattr(panoptic_png, '_panoptic_count_ext', None)
    rng = np.random.default_rng(5)
    dtypes = (np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
              np.uint64)
    for case in range(40):
        height, width = (int(v) for v in rng.integers(1, 50, size=2))
        num_values = int(rng.choice([1, 3, 40, 600]))
        ids = rng.choice(256**3, num_values, replace=False)
        gt = ids[rng.integers(0, num_values, (height, width))]
        dtype = dtypes[case % len(dtypes)]
        top = np.iinfo(dtype).max if dtype != np.uint64 else 2**62
        values = rng.choice(min(top, 2**40), 7, replace=False)
        pred = values[rng.integers(0, 7, (height, width))].astype(dtype)
        png = encode_png(id2rgb(gt), rng)
        gt_map = read_panoptic_png(png, 'gt.png')
        assert isinstance(gt_map, PngRows) == compiled
        expected = _reference_histogram(gt, pred)
        for first, second, reference in (
            (gt_map, pred, expected),
            (pred, gt_map, (expected[1], expected[0], expected[2].T)),
            (gt_map, gt_map, _reference_histogram(gt, gt)),
            (gt.astype(np.uint32), pred, expected),
        ):
            result = joint_histogram(first, second)
            for got, want in zip(result, reference):
                np.testing.assert_array_equal(got, want)
                assert got.dtype == np.int64


@pytest.mark.parametrize('compiled', [True, False])
def test_joint_histogram_refuses_bad_maps(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(panoptic_png, '_panoptic_count_ext', None)
    with pytest.raises(ValueError, match='negative value'):
        joint_histogram(np.zeros((2, 3), np.int64), np.full((2, 3), -4))
    with pytest.raises(ValueError, match='different sizes'):
        joint_histogram(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.int64))
    # another byte order is read as its values
    swapped = np.arange(6, dtype='>i8').reshape(2, 3)
    np.testing.assert_array_equal(
        joint_histogram(swapped, np.zeros((2, 3), np.uint8))[0],
        np.arange(6))
    if compiled:  # thousands of values on both sides: not label maps
        noise = np.arange(4200, dtype=np.int64).reshape(1, -1)
        with pytest.raises(ValueError, match='too many pairs'):
            joint_histogram(noise, noise)


def test_bad_pngs_raise_errors_that_name_the_file():
    rng = np.random.default_rng(2)
    pixels = _panoptic_pixels(rng, 8, 9, 3)
    png = encode_png(pixels, rng)
    cases = [
        (b'GIF89a' + png[6:], 'is not a PNG file'),
        (png[:40], 'truncated or corrupt'),
        (png[:50] + bytes(b ^ 0x55 for b in png[50:70]) + png[70:],
         'truncated or corrupt'),
        (encode_png(pixels, rng, bit_depth=16), 'not an 8-bit RGB'),
        (encode_png(pixels, rng, colour_type=0), 'not an 8-bit RGB'),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            decode_panoptic_png(data, 'images/bad.png')
        assert 'images/bad.png' in str(error.value)
    # a filter type byte outside 0..4
    rows = read_panoptic_png(png, 'x.png')
    broken = PngRows(bytearray(rows.data), rows.height, rows.width,
                     rows.channels)
    broken.data[0] = 7
    with pytest.raises(ValueError, match='unknown filter type 7'):
        joint_histogram(broken, np.zeros((8, 9), np.int64))
