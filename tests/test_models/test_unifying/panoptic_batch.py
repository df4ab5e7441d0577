"""Small consistent panoptic batches for the Unifying model tests."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData


def make_panoptic_sample(height: int, width: int, num_things_classes: int,
                         num_stuff_classes: int,
                         boxes: Sequence[Tuple[int, int, int, int]],
                         labels: Sequence[int], seed: int) -> DetDataSample:
    """A data sample whose things are the given rectangles (later ones on
    top, masks made disjoint) on two stuff regions split by a vertical
    line, with a 4-pixel VOID band at the bottom."""
    rng = np.random.default_rng(seed)
    semantic = np.empty((height, width), np.int64)
    split = int(rng.integers(width // 4, 3 * width // 4))
    semantic[:, :split] = num_things_classes
    semantic[:, split:] = num_things_classes + min(1, num_stuff_classes - 1)
    semantic[-4:] = 255
    masks = np.zeros((len(boxes), height, width), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[:i, y1:y2, x1:x2] = 0
        masks[i, y1:y2, x1:x2] = 1
        semantic[y1:y2, x1:x2] = labels[i]
    tight = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        tight.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            pad_shape=(height, width),
            scale_factor=(1.0, 1.0),
            batch_input_shape=(height, width)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(tight, dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor(list(labels), dtype=torch.long),
        masks=BitmapMasks(masks, height, width))
    sample.ignored_instances = InstanceData(
        bboxes=torch.zeros((0, 4)),
        labels=torch.zeros((0, ), dtype=torch.long))
    sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(semantic)[None])
    return sample


def make_panoptic_batch(height: int = 64,
                        width: int = 64,
                        num_things_classes: int = 4,
                        num_stuff_classes: int = 4,
                        seed: int = 0) -> List[dict]:
    """Two images (uint8, as a dataloader gives) with things and stuff; the
    second has no things."""
    generator = torch.Generator().manual_seed(seed)
    boxes = [(4, 6, 30, 34), (24, 20, 56, 50), (40, 2, 60, 18)]
    boxes = [(x1 * width // 64, y1 * height // 64, x2 * width // 64,
              y2 * height // 64) for x1, y1, x2, y2 in boxes]
    labels = [0, 1 % num_things_classes, 0]
    samples = [
        make_panoptic_sample(height, width, num_things_classes,
                             num_stuff_classes, boxes, labels, seed),
        make_panoptic_sample(height, width, num_things_classes,
                             num_stuff_classes, [], [], seed + 1)
    ]
    inputs = [
        torch.randint(
            0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
        for _ in samples
    ]
    return dict(inputs=inputs, data_samples=samples)
