"""A synthetic panoptic dataset in COCO panoptic format, made from a seed.

Every image is a scene of textured *stuff* regions (sky, grass, water, wall)
under a wavy horizon and a random divider, with *things* (discs, boxes,
triangles, crosses) of different sizes and orientations that overlap and
occlude each other, some *crowd* clusters of tiny things annotated as one
``iscrowd`` segment, and VOID pixels (bands on stuff borders, unlabelled
blobs, things occluded to slivers). Colours are jittered per instance and per
image, so a model must use shape and texture, not a colour lookup.

The files written are exactly what COCO panoptic ships: RGB images, panoptic
PNGs whose RGB colour encodes the segment id (``id = R + 256 G + 256^2 B``),
and a JSON with ``images``, ``annotations[].segments_info`` (``id``,
``category_id``, ``area``, ``bbox``, ``iscrowd``) and ``categories`` (with
``isthing``), things listed first. mmdet's ``CocoPanopticDataset`` loads it
unchanged.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmpanoptic.utils.panoptic_ids import id2rgb

# Things first (mmdet and our metric require it), non-contiguous ids as in
# COCO so that id -> label mapping is exercised.
SYNTHETIC_CATEGORIES: List[dict] = [
    dict(id=1, name='disc', supercategory='shape', isthing=1,
         color=[220, 40, 40]),
    dict(id=2, name='box', supercategory='shape', isthing=1,
         color=[240, 190, 30]),
    dict(id=3, name='triangle', supercategory='shape', isthing=1,
         color=[190, 50, 200]),
    dict(id=4, name='cross', supercategory='shape', isthing=1,
         color=[235, 235, 235]),
    dict(id=21, name='sky', supercategory='background', isthing=0,
         color=[120, 170, 235]),
    dict(id=22, name='grass', supercategory='background', isthing=0,
         color=[60, 140, 50]),
    dict(id=23, name='water', supercategory='background', isthing=0,
         color=[40, 90, 165]),
    dict(id=24, name='wall', supercategory='background', isthing=0,
         color=[150, 85, 60]),
]
THING_NAMES = tuple(c['name'] for c in SYNTHETIC_CATEGORIES if c['isthing'])
STUFF_NAMES = tuple(c['name'] for c in SYNTHETIC_CATEGORIES
                    if not c['isthing'])
SYNTHETIC_METAINFO = dict(
    classes=THING_NAMES + STUFF_NAMES,
    thing_classes=THING_NAMES,
    stuff_classes=STUFF_NAMES,
    palette=[tuple(c['color']) for c in SYNTHETIC_CATEGORIES])

_CAT_BY_NAME = {c['name']: c for c in SYNTHETIC_CATEGORIES}
_MAX_SEGMENT_ID = 256**3 - 1
VOID = 0


# --------------------------------------------------------------- textures
def _stuff_texture(name: str, height: int, width: int,
                   rng: np.random.Generator) -> np.ndarray:
    """A (H, W, 3) float texture for a stuff class, jittered per image."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.array(_CAT_BY_NAME[name]['color'], np.float32)
    base = base + rng.uniform(-25, 25, size=3)
    noise = rng.normal(0, 1, size=(height, width, 1)).astype(np.float32)
    if name == 'sky':
        # smooth vertical gradient, almost no noise
        shade = 30 * (ys / max(height - 1, 1) - 0.5)[..., None]
        tex = base + shade + 3 * noise
    elif name == 'grass':
        # strong high-frequency noise with vertical streaks
        streaks = np.sin(xs * rng.uniform(1.2, 2.0) +
                         rng.uniform(0, 6.3))[..., None]
        tex = base + 22 * noise + 12 * streaks
    elif name == 'water':
        # horizontal waves
        period = rng.uniform(5, 9)
        wave = np.sin(2 * np.pi * (ys + 2 * np.sin(xs / 7.0)) / period)
        tex = base + 28 * wave[..., None] + 5 * noise
    elif name == 'wall':
        # bricks: mortar lines every `row` px, vertical joints staggered
        row = int(rng.integers(6, 10))
        col = 2 * row
        brick_row = (ys // row).astype(np.int64)
        offset = (brick_row % 2) * (col // 2)
        mortar = ((ys % row) < 1.5) | (((xs + offset) % col) < 1.5)
        tex = base + 8 * noise
        tex[mortar] = base * 0.45 + 110
    else:
        raise KeyError(f'unknown stuff class {name!r}')
    return tex


# ---------------------------------------------------------------- shapes
def _shape_mask(kind: str, height: int, width: int, cx: float, cy: float,
                size: float, angle: float, aspect: float) -> np.ndarray:
    """Boolean (H, W) mask of one shape centred at (cx, cy)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    cos, sin = np.cos(angle), np.sin(angle)
    u = cos * dx + sin * dy
    v = -sin * dx + cos * dy
    half = size / 2
    if kind == 'disc':
        return (u / half)**2 + (v / (half * aspect))**2 <= 1
    if kind == 'box':
        return (np.abs(u) <= half) & (np.abs(v) <= half * aspect)
    if kind == 'triangle':
        # equilateral triangle with circumradius `half`, as 3 half-planes
        mask = np.ones((height, width), bool)
        for k in range(3):
            theta = 2 * np.pi * k / 3
            nx, ny = np.cos(theta), np.sin(theta)
            mask &= (u * nx + v * ny) <= half / 2
        return mask
    if kind == 'cross':
        arm = half / 3
        return (((np.abs(u) <= half) & (np.abs(v) <= arm)) |
                ((np.abs(u) <= arm) & (np.abs(v) <= half)))
    raise KeyError(f'unknown thing class {kind!r}')


def _thing_colour(name: str, rng: np.random.Generator) -> np.ndarray:
    base = np.array(_CAT_BY_NAME[name]['color'], np.float32)
    return np.clip(base + rng.uniform(-35, 35, size=3), 0, 255)


def _paint_shape(image: np.ndarray, mask: np.ndarray, colour: np.ndarray,
                 rng: np.random.Generator) -> None:
    """Paint a shaded, slightly noisy shape into ``image`` in place."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-6
    proj = (ys - ys.mean()) * direction[0] + (xs - xs.mean()) * direction[1]
    span = max(np.abs(proj).max(), 1.0)
    shade = 1.0 + 0.25 * proj / span
    noise = rng.normal(0, 6, size=(len(ys), 3))
    image[ys, xs] = colour[None] * shade[:, None] + noise


# ---------------------------------------------------------------- scenes
def _stuff_layout(height: int, width: int, rng: np.random.Generator,
                  stuff_names: Sequence[str]) -> np.ndarray:
    """Indices into ``stuff_names`` per pixel: sky over a wavy horizon, the
    ground split in two by a slanted divider."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.2, 0.5) + height * 0.06 * np.sin(
        xs / width * rng.uniform(3, 9) + rng.uniform(0, 6.3))
    ground = [i for i, n in enumerate(stuff_names) if n != 'sky']
    left, right = rng.choice(ground, size=2, replace=False)
    x0 = width * rng.uniform(0.25, 0.75)
    slope = rng.uniform(-0.6, 0.6)
    layout = np.where(xs < x0 + slope * (ys - height / 2), left, right)
    if 'sky' in stuff_names and rng.uniform() < 0.85:
        layout = np.where(ys < horizon, stuff_names.index('sky'), layout)
    return layout.astype(np.int64)


def _border_band(layout: np.ndarray, width_px: int) -> np.ndarray:
    """Pixels within ``width_px`` of a change in ``layout``."""
    edge = np.zeros(layout.shape, bool)
    edge[:-1] |= layout[:-1] != layout[1:]
    edge[:, :-1] |= layout[:, :-1] != layout[:, 1:]
    if width_px > 1:
        kernel = np.ones((width_px, width_px), np.uint8)
        edge = cv2.dilate(edge.astype(np.uint8), kernel).astype(bool)
    return edge


def make_panoptic_sample(
    rng: np.random.Generator,
    height: int = 128,
    width: int = 128,
    max_things: int = 8,
    crowd_prob: float = 0.25,
    void_blob_prob: float = 0.3,
    min_visible_area: int = 12,
) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """Generate one image with its panoptic annotation.

    Args:
        rng: The random generator; the sample is a pure function of it.
        height, width: Image size in pixels.
        max_things: Upper bound of non-crowd thing instances per image.
        crowd_prob: Probability of a crowd cluster in the image.
        void_blob_prob: Probability of an unlabelled (VOID) blob.
        min_visible_area: Things occluded to fewer pixels become VOID.

    Returns:
        image (H, W, 3) uint8 RGB, segment id map (H, W) int64 (0 = VOID),
        and the COCO ``segments_info`` list.
    """
    stuff_names = list(STUFF_NAMES)
    image = np.zeros((height, width, 3), np.float32)
    # label map: stuff as negative codes, things as positive instance index
    layout = _stuff_layout(height, width, rng, stuff_names)
    for k, name in enumerate(stuff_names):
        region = layout == k
        if region.any():
            image[region] = _stuff_texture(name, height, width, rng)[region]
    owner = -(layout + 1)  # -1..-S: stuff k; 0: VOID; >0: thing instance
    void = _border_band(layout, int(rng.integers(1, 3)))
    owner[void] = VOID

    if rng.uniform() < void_blob_prob:
        bh, bw = (int(rng.integers(4, max(5, height // 6))),
                  int(rng.integers(4, max(5, width // 6))))
        y0, x0 = int(rng.integers(0, height - bh)), int(
            rng.integers(0, width - bw))
        image[y0:y0 + bh, x0:x0 + bw] = rng.uniform(
            0, 255, size=(bh, bw, 3))
        owner[y0:y0 + bh, x0:x0 + bw] = VOID

    instances: List[dict] = []  # dict(name, iscrowd)
    short = min(height, width)
    if rng.uniform() < crowd_prob:
        name = THING_NAMES[int(rng.integers(len(THING_NAMES)))]
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        spread = short * rng.uniform(0.08, 0.15)
        colour = _thing_colour(name, rng)
        union = np.zeros((height, width), bool)
        for _ in range(int(rng.integers(6, 12))):
            mask = _shape_mask(name, height, width,
                               cx + rng.normal(0, spread),
                               cy + rng.normal(0, spread),
                               short * rng.uniform(0.035, 0.06),
                               rng.uniform(0, np.pi), 1.0)
            _paint_shape(image, mask, colour * rng.uniform(0.85, 1.15), rng)
            union |= mask
        instances.append(dict(name=name, iscrowd=1))
        owner[union] = len(instances)

    for _ in range(int(rng.integers(1, max_things + 1))):
        name = THING_NAMES[int(rng.integers(len(THING_NAMES)))]
        size = short * rng.uniform(0.1, 0.42)
        mask = _shape_mask(name, height, width,
                           rng.uniform(0.05, 0.95) * width,
                           rng.uniform(0.05, 0.95) * height, size,
                           rng.uniform(0, np.pi), rng.uniform(0.6, 1.0))
        if not mask.any():
            continue
        _paint_shape(image, mask, _thing_colour(name, rng), rng)
        instances.append(dict(name=name, iscrowd=0))
        owner[mask] = len(instances)

    # global photometric jitter
    image = image * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
    image = np.clip(image, 0, 255).astype(np.uint8)

    # turn owners into COCO segments with unique random ids
    segment_ids = _unique_ids(rng, len(instances) + len(stuff_names))
    id_map = np.zeros((height, width), np.int64)
    segments: List[dict] = []
    candidates = [(-(k + 1), stuff_names[k], 0)
                  for k in range(len(stuff_names))]
    candidates += [(i + 1, inst['name'], inst['iscrowd'])
                   for i, inst in enumerate(instances)]
    for seg_id, (code, name, iscrowd) in zip(segment_ids, candidates):
        mask = owner == code
        area = int(mask.sum())
        if area == 0:
            continue
        if code > 0 and not iscrowd and area < min_visible_area:
            continue  # a sliver of an occluded thing: leave it VOID
        id_map[mask] = seg_id
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        segments.append(
            dict(
                id=int(seg_id),
                category_id=_CAT_BY_NAME[name]['id'],
                area=area,
                bbox=[x0, y0, int(xs.max()) - x0 + 1,
                      int(ys.max()) - y0 + 1],
                iscrowd=int(iscrowd)))
    return image, id_map, segments


def _unique_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct segment ids in [1, 256^3)."""
    ids: set = set()
    while len(ids) < count:
        ids.update(int(i) for i in rng.integers(
            1, _MAX_SEGMENT_ID, size=count - len(ids)))
    return np.array(sorted(ids), np.int64)[rng.permutation(count)]


def write_synthetic_panoptic(
    out_dir: str,
    splits: Optional[Dict[str, int]] = None,
    height: int = 128,
    width: int = 128,
    seed: int = 0,
    **sample_kwargs,
) -> Dict[str, str]:
    """Write a synthetic COCO panoptic dataset to ``out_dir``.

    Layout (as COCO's)::

        out_dir/{split}/000000.png                      RGB images
        out_dir/annotations/panoptic_{split}/000000.png panoptic PNGs
        out_dir/annotations/panoptic_{split}.json

    Args:
        out_dir: Root folder (created if needed).
        splits: Split name -> number of images. Default train 200, val 50.
        height, width: Image size.
        seed: The whole dataset is a pure function of the seed and sizes.
        **sample_kwargs: Passed to :func:`make_panoptic_sample`.

    Returns:
        Split name -> path of its annotation JSON.
    """
    splits = splits or dict(train=200, val=50)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    ann_files = {}
    for split_index, (split, count) in enumerate(sorted(splits.items())):
        img_dir = osp.join(out_dir, split)
        seg_dir = osp.join(out_dir, 'annotations', f'panoptic_{split}')
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(seg_dir, exist_ok=True)
        images, annotations = [], []
        for index in range(count):
            # one independent stream per (seed, split, image)
            rng = np.random.default_rng(
                [seed, sum(map(ord, split)), split_index, index])
            image, id_map, segments = make_panoptic_sample(
                rng, height, width, **sample_kwargs)
            image_id = index + 1
            file_name = f'{index:06d}.png'
            cv2.imwrite(osp.join(img_dir, file_name), image[..., ::-1])
            cv2.imwrite(
                osp.join(seg_dir, file_name), id2rgb(id_map)[..., ::-1])
            images.append(
                dict(id=image_id, file_name=file_name, height=height,
                     width=width))
            annotations.append(
                dict(image_id=image_id, file_name=file_name,
                     segments_info=segments))
        generator = dict(splits=splits, height=height, width=width,
                         seed=seed, **sample_kwargs)
        ann = dict(
            info=dict(description='mmpanoptic synthetic panoptic dataset',
                      version='1.0', generator=generator),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=SYNTHETIC_CATEGORIES)
        ann_file = osp.join(out_dir, 'annotations', f'panoptic_{split}.json')
        tmp = ann_file + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(ann, f)
        os.replace(tmp, ann_file)  # never leave a half-written JSON
        ann_files[split] = ann_file
    return ann_files


# ----------------------------------------------------------------- video
def make_video_frames(rng: np.random.Generator,
                      num_frames: int = 10,
                      height: int = 128,
                      width: int = 128,
                      num_things: int = 4) -> np.ndarray:
    """Frames of one synthetic scene whose things move: the stuff layout and
    textures of :func:`make_panoptic_sample` stay, each thing (a shape of a
    thing class) crosses it at its own constant velocity and spin, later
    things in front.

    Args:
        rng: The random generator; the frames are a pure function of it.
        num_frames: Number of frames.
        height, width: Frame size in pixels.
        num_things: Moving things.

    Returns:
        np.ndarray: (num_frames, H, W, 3) uint8 RGB.
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    stuff_names = list(STUFF_NAMES)
    layout = _stuff_layout(height, width, rng, stuff_names)
    background = np.zeros((height, width, 3), np.float32)
    for k, name in enumerate(stuff_names):
        region = layout == k
        if region.any():
            background[region] = _stuff_texture(name, height, width,
                                                rng)[region]
    short = min(height, width)
    things = []
    for _ in range(num_things):
        name = THING_NAMES[int(rng.integers(len(THING_NAMES)))]
        things.append(
            dict(
                name=name,
                colour=_thing_colour(name, rng),
                start=rng.uniform(0.15, 0.85, size=2) * (width, height),
                # a third to a whole image side over the clip
                velocity=rng.uniform(-1, 1, size=2) * short /
                max(num_frames, 2),
                size=short * rng.uniform(0.15, 0.35),
                angle=rng.uniform(0, np.pi),
                spin=rng.uniform(-0.2, 0.2),
                aspect=rng.uniform(0.6, 1.0),
                shading_seed=int(rng.integers(2**31))))
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for index in range(num_frames):
        image = background.copy()
        for thing in things:
            cx, cy = thing['start'] + index * thing['velocity']
            mask = _shape_mask(thing['name'], height, width, cx, cy,
                               thing['size'],
                               thing['angle'] + index * thing['spin'],
                               thing['aspect'])
            # the same shading and noise in every frame: only motion
            _paint_shape(image, mask, thing['colour'],
                         np.random.default_rng(thing['shading_seed']))
        frames[index] = np.clip(image, 0, 255).astype(np.uint8)
    return frames


def write_synthetic_video(path: str,
                          num_frames: int = 10,
                          height: int = 128,
                          width: int = 128,
                          fps: float = 10.0,
                          seed: int = 0,
                          num_things: int = 4) -> str:
    """Write :func:`make_video_frames` as an MPEG-4 video (OpenCV's
    ``mp4v``), e.g. to try ``tools/demo/video_demo.py``.

    Returns:
        str: ``path``.
    """
    frames = make_video_frames(
        np.random.default_rng(seed), num_frames, height, width, num_things)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write an mp4v video to {path}')
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path
