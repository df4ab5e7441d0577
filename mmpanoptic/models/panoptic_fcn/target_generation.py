"""Target generation for Panoptic FCN (paper Sec. 3.1 and App. A.1).

Pure functions with explicit arguments, one image at a time:

- :func:`mass_centers`: object centres as mask mass centres (App. A.1).
- :func:`gaussian_radius`: CornerNet's Gaussian radius.
- :func:`assign_levels`: objects to FPN levels by ``sqrt(box area)`` ranges.
- :func:`draw_center_heatmaps`: the things heatmap of eq. (1).
- :func:`stuff_one_hot`: the one-hot stuff map of a semantic map, at 1/4.
- :func:`resize_stuff_targets`: the stuff map of a level (bilinear, < 0.5
  zeroed).

Ignored pixels (label 255, the padding included) get 0 in every channel:
like the official code, they are negatives of the stuff map and of the mask
losses, not left out.

Coordinates are ``(x, y)`` in pixels of the (padded) network input unless
said otherwise; a pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Scale ranges (min, max) of sqrt(box area) in input pixels for P3..P7
# (paper Sec. 4.1); neighbouring ranges overlap, so an object can be
# assigned to two levels.
COCO_INSTANCE_SCALES = ((1, 64), (32, 128), (64, 256), (128, 512), (256, 2048))
CITYSCAPES_INSTANCE_SCALES = ((1, 128), (64, 256), (128, 512), (256, 1024),
                              (512, 2048))


def mass_centers(masks: Tensor) -> Tensor:
    """Mass centres of binary masks (App. A.1: better than box centres).

    Args:
        masks (Tensor): (K, H, W) bool or {0, 1} masks.

    Returns:
        Tensor: (K, 2) float ``(x, y)`` centres in continuous pixel
        coordinates (a pixel's centre is at ``index + 0.5``). An empty mask
        gets the image centre.
    """
    if masks.dim() != 3:
        raise ValueError(f'masks must be (K, H, W), got {tuple(masks.shape)}')
    num, height, width = masks.shape
    if num == 0:
        return masks.new_zeros((0, 2), dtype=torch.float32)
    # Row and column sums avoid a (K, H, W) float copy.
    masks = masks.to(torch.uint8)
    col_mass = masks.sum(dim=1).float()  # (K, W)
    row_mass = masks.sum(dim=2).float()  # (K, H)
    area = col_mass.sum(dim=1)
    xs = torch.arange(width, dtype=torch.float32, device=masks.device) + 0.5
    ys = torch.arange(height, dtype=torch.float32, device=masks.device) + 0.5
    safe_area = area.clamp(min=1)
    center_x = (col_mass * xs).sum(dim=1) / safe_area
    center_y = (row_mass * ys).sum(dim=1) / safe_area
    empty = area == 0
    center_x[empty] = width / 2
    center_y[empty] = height / 2
    return torch.stack([center_x, center_y], dim=1)


def gaussian_radius(box_wh: Tensor, min_overlap: float = 0.7) -> Tensor:
    """CornerNet's Gaussian radius, vectorised.

    The formula of the CornerNet code (and the official Panoptic FCN code):
    the smallest of the three quadratic roots ``(b + sqrt(b^2 - 4ac)) / 2``.
    (mmdet's ``gaussian_radius`` uses the corrected roots, which are about
    half as large; we keep the formula Panoptic FCN was tuned with.)

    Args:
        box_wh (Tensor): (K, 2) box widths and heights (in cells of the
            level the heatmap is drawn on).
        min_overlap (float): minimum IoU of a box drawn from a point inside
            the radius with the ground truth box. Defaults to 0.7.

    Returns:
        Tensor: (K,) float radii (not rounded, not clamped).
    """
    width, height = box_wh[..., 0], box_wh[..., 1]
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def assign_levels(box_sizes: Tensor,
                  instance_scales: Sequence[Tuple[float, float]]) -> Tensor:
    """Assign objects to levels by scale ranges (paper Sec. 4.1).

    Args:
        box_sizes (Tensor): (K,) ``sqrt(box area)`` in input pixels.
        instance_scales (sequence of (min, max)): one inclusive range per
            level, e.g. :data:`COCO_INSTANCE_SCALES`.

    Returns:
        Tensor: (L, K) bool, True where object k is assigned to level l.
    """
    scales = box_sizes.new_tensor(instance_scales, dtype=torch.float32)
    if scales.dim() != 2 or scales.shape[1] != 2:
        raise ValueError('instance_scales must be a sequence of (min, max) '
                         f'pairs, got {instance_scales}')
    sizes = box_sizes.float()[None]
    return (sizes >= scales[:, :1]) & (sizes <= scales[:, 1:])


def centers_to_cells(centers: Tensor, input_size: Tuple[int, int],
                     level_size: Tuple[int, int]) -> Tensor:
    """Map ``(x, y)`` input-pixel centres to integer cells of a level.

    Args:
        centers (Tensor): (K, 2) float ``(x, y)``.
        input_size (tuple): ``(H, W)`` of the (padded) input.
        level_size (tuple): ``(H_l, W_l)`` of the level.

    Returns:
        Tensor: (K, 2) long ``(col, row)`` clamped into the level.
    """
    scale_x = level_size[1] / input_size[1]
    scale_y = level_size[0] / input_size[0]
    cols = (centers[:, 0] * scale_x).floor().long().clamp(0, level_size[1] - 1)
    rows = (centers[:, 1] * scale_y).floor().long().clamp(0, level_size[0] - 1)
    return torch.stack([cols, rows], dim=1)


def draw_center_heatmaps(cells: Tensor,
                         radii: Tensor,
                         labels: Tensor,
                         num_classes: int,
                         level_size: Tuple[int, int],
                         sigma_factor: float = 3.0) -> Tensor:
    """Draw the things heatmap of eq. (1) for one level.

    Each object paints ``exp(-d^2 / (2 sigma^2))`` with
    ``sigma = (2r + 1) / sigma_factor`` (App. A.1: ``(2r + 1) / 3``) in the
    ``(2r + 1) x (2r + 1)`` window around its centre cell, on the channel of
    its class; overlapping objects keep the maximum.

    Args:
        cells (Tensor): (K, 2) long ``(col, row)`` centre cells.
        radii (Tensor): (K,) long radii (>= 0).
        labels (Tensor): (K,) long thing classes in ``[0, num_classes)``.
        num_classes (int): number of thing classes.
        level_size (tuple): ``(H_l, W_l)``.
        sigma_factor (float): diameter / sigma. Defaults to 3.

    Returns:
        Tensor: (num_classes, H_l, W_l) float heatmap in [0, 1].
    """
    height, width = level_size
    heatmap = cells.new_zeros((num_classes, height * width),
                              dtype=torch.float32)
    if cells.numel() == 0:
        return heatmap.view(num_classes, height, width)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f'thing labels must be in [0, {num_classes}), got '
                         f'{labels.tolist()}')
    xs = torch.arange(width, device=cells.device, dtype=torch.float32)
    ys = torch.arange(height, device=cells.device, dtype=torch.float32)
    dx = xs[None, None, :] - cells[:, 0, None, None].float()  # (K, 1, W)
    dy = ys[None, :, None] - cells[:, 1, None, None].float()  # (K, H, 1)
    radii_f = radii.float()[:, None, None]
    sigma = (2 * radii_f + 1) / sigma_factor
    gaussian = torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))  # eq. (1)
    inside = (dx.abs() <= radii_f) & (dy.abs() <= radii_f)
    gaussian = (gaussian * inside).view(len(cells), -1)
    index = labels.long()[:, None].expand_as(gaussian)
    heatmap.scatter_reduce_(0, index, gaussian, reduce='amax')
    return heatmap.view(num_classes, height, width)


def stuff_one_hot(sem_seg: Tensor,
                  num_things_classes: int,
                  num_stuff_classes: int,
                  out_size: Tuple[int, int],
                  stuff_with_things: bool = True,
                  ignore_index: int = 255) -> Tensor:
    """One-hot stuff targets of a semantic map, resized bilinearly.

    Labels follow mmdet: things ``[0, T)``, stuff ``[T, T + S)``, ``255``
    ignore. Stuff class ``s`` goes to channel ``s - T``; with
    ``stuff_with_things`` all things share one extra channel ``S`` (the
    official code's 54-channel COCO stuff map). Ignored pixels are 0 in
    every channel.

    Args:
        sem_seg (Tensor): (H, W) long semantic labels.
        num_things_classes (int): T. num_stuff_classes (int): S.
        out_size (tuple): ``(H_o, W_o)`` output size (1/4 of the input).
        stuff_with_things (bool): add the "all things" channel.
        ignore_index (int): ignored label.

    Returns:
        Tensor: (C, H_o, W_o) soft one-hot targets with ``C = S + 1`` (or
        ``S``).
    """
    if sem_seg.dim() != 2:
        raise ValueError(f'sem_seg must be (H, W), got {tuple(sem_seg.shape)}')
    sem_seg = sem_seg.long()
    valid = sem_seg != ignore_index
    bad = valid & ((sem_seg < 0) |
                   (sem_seg >= num_things_classes + num_stuff_classes))
    if bad.any():
        raise ValueError(
            'semantic labels must be in '
            f'[0, {num_things_classes + num_stuff_classes}) or '
            f'{ignore_index}, got {sem_seg[bad].unique().tolist()}')
    num_channels = num_stuff_classes + int(stuff_with_things)
    channel = sem_seg - num_things_classes
    if stuff_with_things:
        channel = torch.where(sem_seg < num_things_classes,
                              channel.new_tensor(num_stuff_classes), channel)
    else:
        valid = valid & (sem_seg >= num_things_classes)
    channel = torch.where(valid, channel, channel.new_tensor(num_channels))
    # One-hot only over the channels present, to keep memory at
    # (#present, H, W) instead of (C, H, W) at full resolution.
    present = torch.unique(channel)
    present = present[present < num_channels]
    planes = (channel[None] == present[:, None, None]).float()
    targets = planes.new_zeros((num_channels, *out_size))
    if len(present) > 0:  # interpolate refuses empty inputs
        targets[present] = F.interpolate(
            planes[None], size=out_size, mode='bilinear',
            align_corners=False)[0]
    return targets


def resize_stuff_targets(stuff_targets: Tensor,
                         level_size: Tuple[int, int]) -> Tensor:
    """The stuff map ``Y^st`` of one level (paper Sec. 3.1).

    Bilinear interpolation of the one-hot map, clamped to 1, values below
    0.5 zeroed (the official code).

    Args:
        stuff_targets (Tensor): (C, H, W) soft one-hot (from
            :func:`stuff_one_hot`).
        level_size (tuple): ``(H_l, W_l)``.

    Returns:
        Tensor: (C, H_l, W_l) targets.
    """
    targets = F.interpolate(
        stuff_targets[None],
        size=level_size,
        mode='bilinear',
        align_corners=False)[0].clamp(max=1.0)
    return torch.where(targets < 0.5, torch.zeros_like(targets), targets)


def thing_level_targets(masks: Tensor,
                        box_sizes: Tensor,
                        box_wh: Tensor,
                        labels: Tensor,
                        num_classes: int,
                        input_size: Tuple[int, int],
                        level_sizes: Sequence[Tuple[int, int]],
                        instance_scales: Sequence[Tuple[float, float]],
                        min_overlap: float = 0.7,
                        sigma_factor: float = 3.0) -> List[dict]:
    """Things targets of every level for one image.

    Args:
        masks (Tensor): (K, H, W) binary masks at input resolution.
        box_sizes (Tensor): (K,) ``sqrt(box area)`` in input pixels.
        box_wh (Tensor): (K, 2) box widths and heights in input pixels.
        labels (Tensor): (K,) thing labels.
        num_classes (int): number of thing classes.
        input_size (tuple): ``(H, W)`` of the (padded) input.
        level_sizes (sequence): ``(H_l, W_l)`` per level.
        instance_scales (sequence): one (min, max) range per level.
        min_overlap (float): CornerNet radius overlap. Defaults to 0.7.
        sigma_factor (float): diameter / sigma. Defaults to 3.

    Returns:
        list[dict]: per level ``heatmap`` (T, H_l, W_l), ``object_index``
        (K_l,) long indices into the K objects, ``cells`` (K_l, 2) long
        ``(col, row)`` centre cells.
    """
    if len(level_sizes) != len(instance_scales):
        raise ValueError(f'{len(level_sizes)} levels but '
                         f'{len(instance_scales)} instance scale ranges')
    centers = mass_centers(masks)
    assigned = assign_levels(box_sizes, instance_scales)
    results = []
    for level, level_size in enumerate(level_sizes):
        object_index = assigned[level].nonzero(as_tuple=False).view(-1)
        cells = centers_to_cells(centers[object_index], input_size, level_size)
        scale = box_wh.new_tensor(
            [level_size[1] / input_size[1], level_size[0] / input_size[0]])
        radii = gaussian_radius(box_wh[object_index].float() * scale,
                                min_overlap)
        radii = radii.clamp(min=0).long()
        heatmap = draw_center_heatmaps(cells, radii, labels[object_index],
                                       num_classes, level_size, sigma_factor)
        results.append(
            dict(heatmap=heatmap, object_index=object_index, cells=cells))
    return results
