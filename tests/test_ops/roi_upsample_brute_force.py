"""Brute-force loop implementation of AUNet's RoIUpsample, eq. (5)-(6), and
random RoIs: the known answers of tests/test_ops/test_roi_upsample*.py
(imports nothing but torch, so the CUDA tests also run where mmcv has no
compiled ops)."""
import math

import torch


def _axis_point(coord: float, size: int):
    """mmcv's bilinear convention along one axis for one sample point:
    None if dropped, else (low, high, fractional offset)."""
    if coord < -1.0 or coord > size:
        return None
    coord = max(coord, 0.0)
    low = int(math.floor(coord))
    if low >= size - 1:
        return size - 1, size - 1, 0.0
    return low, low + 1, coord - low


def brute_force_roi_upsample(roi_feats,
                             rois,
                             out_shape,
                             spatial_scale,
                             sampling_ratio=2):
    """Eq. (5)-(6) with explicit loops over RoIs, bins, points, corners."""
    batch, height, width = out_shape
    n, channels, mh, mw = roi_feats.shape
    out = torch.zeros(batch, channels, height, width, dtype=torch.float64)
    s = sampling_ratio
    for r in range(n):
        b, x1, y1, x2, y2 = (float(v) for v in rois[r])
        start_x, start_y = x1 * spatial_scale - 0.5, y1 * spatial_scale - 0.5
        bin_w = (x2 - x1) * spatial_scale / mw
        bin_h = (y2 - y1) * spatial_scale / mh
        for i in range(mh):
            for j in range(mw):
                value = roi_feats[r, :, i, j].double() / (s * s)  # R(p_g)
                for iy in range(s):
                    for ix in range(s):
                        py = start_y + (i + (iy + 0.5) / s) * bin_h
                        px = start_x + (j + (ix + 0.5) / s) * bin_w
                        ay, ax = _axis_point(py,
                                             height), _axis_point(px, width)
                        if ay is None or ax is None:
                            continue
                        y_low, y_high, y = ay
                        x_low, x_high, x = ax
                        value_x = x**2 + (1 - x)**2  # eq. (6)
                        value_y = y**2 + (1 - y)**2
                        norm = value_x * value_y
                        # eq. (5)
                        out[int(b), :, y_low, x_low] += \
                            (1 - x) * (1 - y) / norm * value
                        out[int(b), :, y_low, x_high] += \
                            x * (1 - y) / norm * value
                        out[int(b), :, y_high, x_low] += \
                            (1 - x) * y / norm * value
                        out[int(b), :, y_high, x_high] += \
                            x * y / norm * value
    return out


def random_rois(num,
                batch,
                img_h,
                img_w,
                gen,
                min_size=2.,
                max_size=40.,
                outside=True):
    size = torch.rand(
        num, 2, generator=gen,
        dtype=torch.float64) * (max_size - min_size) + min_size
    lo = -0.4 * max_size if outside else 0.
    x1 = torch.rand(
        num, generator=gen, dtype=torch.float64) * (img_w - lo) + lo
    y1 = torch.rand(
        num, generator=gen, dtype=torch.float64) * (img_h - lo) + lo
    if not outside:
        x1 = x1.clamp(max=img_w - size[:, 0])
        y1 = y1.clamp(max=img_h - size[:, 1])
    b = torch.randint(0, batch, (num, ), generator=gen).double()
    return torch.stack([b, x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1)
