"""COCO panoptic PNG colours <-> segment ids (``id = R + 256 G + 256^2 B``,
0 = VOID), the encoding of the panoptic PNGs that the datasets read, the
metric and the inferencer write, and the tools convert."""
import numpy as np


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """COCO panoptic colours to segment ids: (H, W, 3) RGB -> (H, W) int64."""
    rgb = np.asarray(rgb).astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]


def id2rgb(id_map: np.ndarray) -> np.ndarray:
    """Segment ids to COCO panoptic colours: (H, W) -> (H, W, 3) uint8 RGB."""
    id_map = np.asarray(id_map).astype(np.int64)
    return np.stack(
        [id_map % 256, id_map // 256 % 256, id_map // 256**2 % 256],
        axis=-1).astype(np.uint8)
