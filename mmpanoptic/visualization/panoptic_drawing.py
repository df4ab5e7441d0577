"""Pure functions behind :class:`PanopticLocalVisualizer`.

A panoptic map here is mmdet's: an ``(H, W)`` int array whose value is
``label + instance_id * INSTANCE_OFFSET``; things have ``instance_id >= 1``,
stuff (and crowd regions) ``instance_id == 0``, VOID pixels have
``label == num_classes``.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmdet.evaluation.functional import INSTANCE_OFFSET

Color = Tuple[int, int, int]


def class_shades(base_color: Sequence[int], num_shades: int,
                 max_shift: float = 0.45) -> List[Color]:
    """``num_shades`` distinct shades of one class colour, as in the papers'
    figures: from darker to lighter, the middle one (or the only one) is the
    class colour itself.

    A negative shift ``t`` scales the colour towards black
    (``c * (1 + t)``), a positive one mixes it towards white
    (``c + t * (255 - c)``); shifts are spaced evenly in
    ``[-max_shift, max_shift]``.

    Args:
        base_color (Sequence[int]): RGB colour of the class, 0-255.
        num_shades (int): How many shades (instances) are needed.
        max_shift (float): Largest shift towards black or white, in (0, 1).

    Returns:
        list[tuple[int, int, int]]: ``num_shades`` RGB colours.
    """
    if num_shades < 0:
        raise ValueError(f'num_shades must be >= 0, got {num_shades}')
    if not 0 < max_shift < 1:
        raise ValueError(f'max_shift must be in (0, 1), got {max_shift}')
    base = np.asarray(base_color, dtype=np.float64)
    if num_shades == 1:
        shifts = np.zeros(1)
    else:
        shifts = np.linspace(-max_shift, max_shift, num_shades)
    towards_black = base[None] * (1 + np.minimum(shifts, 0))[:, None]
    towards_white = base[None] + (255 - base[None]) * np.maximum(shifts,
                                                                 0)[:, None]
    shades = np.where(shifts[:, None] < 0, towards_black, towards_white)
    return [tuple(int(v) for v in row) for row in np.rint(shades)]


def segment_colors(segment_ids: np.ndarray, palette: Sequence[Sequence[int]],
                   num_classes: int) -> np.ndarray:
    """An RGB colour for every segment of a panoptic map.

    Stuff (and crowd) segments get their class colour, the ``k`` things of
    one class get the ``k`` shades of :func:`class_shades` in the order of
    their instance ids, VOID gets black (it is not drawn).

    Args:
        segment_ids (np.ndarray): (K,) the distinct values of a panoptic map.
        palette (Sequence): ``num_classes`` RGB colours.
        num_classes (int): Things + stuff; ``label == num_classes`` is VOID.

    Returns:
        np.ndarray: (K, 3) uint8 colours, row ``k`` for ``segment_ids[k]``.
    """
    segment_ids = np.asarray(segment_ids, dtype=np.int64)
    labels = segment_ids % INSTANCE_OFFSET
    instance_ids = segment_ids // INSTANCE_OFFSET
    if len(palette) < num_classes:
        raise ValueError(f'the palette has {len(palette)} colours for '
                         f'{num_classes} classes')
    if labels.size and labels.max() > num_classes:
        raise ValueError(
            f'panoptic label {int(labels.max())} is out of range: '
            f'{num_classes} classes (label {num_classes} is VOID)')
    colors = np.zeros((len(segment_ids), 3), dtype=np.uint8)
    for label in np.unique(labels):
        if label == num_classes:
            continue
        of_class = labels == label
        things = of_class & (instance_ids > 0)
        colors[of_class & ~things] = palette[label]
        if things.any():
            order = np.argsort(instance_ids[things], kind='stable')
            shades = np.array(
                class_shades(palette[label], int(things.sum())), np.uint8)
            thing_rows = np.flatnonzero(things)[order]
            colors[thing_rows] = shades
    return colors


def segment_boundaries(panoptic_seg: np.ndarray) -> np.ndarray:
    """Pixels where the segment changes: (H, W) bool, one pixel thick on each
    side of a border between two segments (4-connectivity)."""
    boundary = np.zeros(panoptic_seg.shape, dtype=bool)
    horizontal = panoptic_seg[:, 1:] != panoptic_seg[:, :-1]
    vertical = panoptic_seg[1:, :] != panoptic_seg[:-1, :]
    boundary[:, 1:] |= horizontal
    boundary[1:, :] |= vertical
    return boundary


def blend_panoptic(image: np.ndarray,
                   panoptic_seg: np.ndarray,
                   palette: Sequence[Sequence[int]],
                   num_classes: int,
                   alpha: float = 0.7,
                   contour_color: Optional[Sequence[int]] = (255, 255, 255),
                   ) -> np.ndarray:
    """Paint a panoptic map over an image.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB image.
        panoptic_seg (np.ndarray): (H, W) int panoptic map (module doc).
        palette (Sequence): ``num_classes`` RGB colours.
        num_classes (int): Things + stuff; VOID pixels keep the image.
        alpha (float): Opacity of the segment colours.
        contour_color (Sequence[int], optional): RGB colour of the one-pixel
            contours between segments; None draws none.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.
    """
    if image.shape[:2] != panoptic_seg.shape:
        raise ValueError(f'image {image.shape[:2]} and panoptic map '
                         f'{panoptic_seg.shape} differ in size')
    segment_ids, inverse = np.unique(panoptic_seg, return_inverse=True)
    inverse = inverse.reshape(panoptic_seg.shape)
    colors = segment_colors(segment_ids, palette, num_classes)
    color_map = colors[inverse].astype(np.float32)
    is_void = (panoptic_seg % INSTANCE_OFFSET == num_classes)[..., None]
    blended = image.astype(np.float32) * (1 - alpha) + color_map * alpha
    drawn = np.where(is_void, image.astype(np.float32), blended)
    if contour_color is not None:
        drawn[segment_boundaries(panoptic_seg)] = contour_color
    return np.rint(drawn).clip(0, 255).astype(np.uint8)


def panoptic_from_annotations(sem_seg: np.ndarray,
                              instance_masks: np.ndarray,
                              instance_labels: np.ndarray,
                              num_classes: int,
                              ignore_index: int = 255) -> np.ndarray:
    """The panoptic map of a ground truth as mmdet's pipeline packs it.

    ``LoadPanopticAnnotations`` + ``PackDetInputs`` give ``gt_sem_seg``
    (things and stuff labels, ``ignore_index`` for VOID) and ``gt_instances``
    (one mask per non-crowd thing). Crowd regions keep their thing label in
    ``gt_sem_seg`` but have no instance: they become instance 0 of their
    class, like stuff.

    Args:
        sem_seg (np.ndarray): (H, W) int semantic labels.
        instance_masks (np.ndarray): (N, H, W) bool thing masks.
        instance_labels (np.ndarray): (N,) int thing labels.
        num_classes (int): Things + stuff, the VOID label.
        ignore_index (int): The VOID value of ``sem_seg``.

    Returns:
        np.ndarray: (H, W) int64 panoptic map, thing ``n`` (0-based) gets
        instance id ``n + 1``.
    """
    sem_seg = np.asarray(sem_seg, dtype=np.int64)
    instance_masks = np.asarray(instance_masks, dtype=bool)
    instance_labels = np.asarray(instance_labels, dtype=np.int64)
    if instance_masks.shape[1:] != sem_seg.shape and len(instance_masks):
        raise ValueError(f'instance masks {instance_masks.shape[1:]} and '
                         f'semantic map {sem_seg.shape} differ in size')
    if len(instance_masks) != len(instance_labels):
        raise ValueError(f'{len(instance_masks)} instance masks but '
                         f'{len(instance_labels)} labels')
    panoptic = np.where(sem_seg == ignore_index, num_classes, sem_seg)
    if len(instance_masks):
        covered = instance_masks.any(axis=0)
        # the last mask wins where masks overlap (they should not in GT)
        owner = len(instance_masks) - 1 - np.argmax(
            instance_masks[::-1], axis=0)
        thing_values = (instance_labels[owner] +
                        (owner + 1) * INSTANCE_OFFSET)
        panoptic = np.where(covered, thing_values, panoptic)
    return panoptic.astype(np.int64)
