"""A panoptic visualiser: mmdet's ``DetLocalVisualizer`` with panoptic maps
drawn as in the papers' figures."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import _get_adaptive_scales, get_palette
from mmengine.dist import master_only

from mmpanoptic.registry import VISUALIZERS
from .panoptic_drawing import blend_panoptic, panoptic_from_annotations


def _to_numpy(data: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    return np.asarray(data)


@VISUALIZERS.register_module()
class PanopticLocalVisualizer(DetLocalVisualizer):
    """Draws panoptic ground truth and predictions.

    Stuff segments get their class colour, each thing a shade of its class
    colour (darker to lighter in instance order), every segment a thin
    contour, every thing its class name. VOID pixels show the image. With
    both ground truth and prediction, the picture is ``GT | prediction``
    side by side, as in mmdet.

    The ground truth is ``gt_panoptic_seg`` when a data sample has it, else
    it is rebuilt from ``gt_sem_seg`` and ``gt_instances`` (what
    ``LoadPanopticAnnotations`` + ``PackDetInputs`` produce). Samples
    without panoptic information are drawn by ``DetLocalVisualizer``
    (boxes, masks, semantic maps).

    Args:
        name (str): Name of the instance.
        image (np.ndarray, optional): RGB image to draw on.
        vis_backends (list[dict], optional): Visual backend configs.
        save_dir (str, optional): Where the backends save.
        alpha (float): Opacity of the segment colours. Defaults to 0.7.
        contour_color (tuple[int], optional): RGB colour of the one-pixel
            contours; None draws none. Defaults to white.
        draw_thing_names (bool): Write class names on things.
        draw_stuff_names (bool): Write class names on stuff too.
        text_color (tuple[int]): RGB colour of the class names.
        **kwargs: Other arguments of ``DetLocalVisualizer`` (``bbox_color``,
            ``line_width``, ...), used for non-panoptic samples.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[Dict]] = None,
                 save_dir: Optional[str] = None,
                 alpha: float = 0.7,
                 contour_color: Optional[Tuple[int, int, int]] = (255, 255,
                                                                  255),
                 draw_thing_names: bool = True,
                 draw_stuff_names: bool = False,
                 text_color: Tuple[int, int, int] = (255, 255, 255),
                 **kwargs) -> None:
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            text_color=text_color,
            alpha=alpha,
            **kwargs)
        self.contour_color = contour_color
        self.draw_thing_names = draw_thing_names
        self.draw_stuff_names = draw_stuff_names

    # ------------------------------------------------------------ helpers
    def _classes_and_palette(self) -> Tuple[Sequence[str], list]:
        classes = self.dataset_meta.get('classes', None)
        if classes is None:
            raise ValueError(
                'PanopticLocalVisualizer needs class names to draw a '
                'panoptic map: set visualizer.dataset_meta = '
                'dataset.metainfo (classes, palette) first.')
        palette = get_palette(
            self.dataset_meta.get('palette', None), len(classes))
        return classes, [tuple(int(v) for v in c) for c in palette]

    @staticmethod
    def gt_panoptic_map(data_sample: DetDataSample,
                        num_classes: int) -> Optional[np.ndarray]:
        """The (H, W) ground-truth panoptic map of a data sample, or None
        when the sample holds no panoptic ground truth."""
        if 'gt_panoptic_seg' in data_sample:
            return _to_numpy(data_sample.gt_panoptic_seg.sem_seg)[0]
        if 'gt_sem_seg' not in data_sample:
            return None
        sem_seg = _to_numpy(data_sample.gt_sem_seg.sem_seg)[0]
        masks = np.zeros((0, ) + sem_seg.shape, dtype=bool)
        labels = np.zeros((0, ), dtype=np.int64)
        instances = data_sample.get('gt_instances', None)
        if instances is not None and 'masks' in instances:
            masks = instances.masks
            if isinstance(masks, (BitmapMasks, PolygonMasks)):
                masks = masks.to_ndarray()
            masks = _to_numpy(masks).astype(bool)
            labels = _to_numpy(instances.labels)
        return panoptic_from_annotations(sem_seg, masks, labels, num_classes)

    def _draw_panoptic_map(self, image: np.ndarray, panoptic_seg: np.ndarray,
                           classes: Sequence[str],
                           palette: list) -> np.ndarray:
        """Colours, contours and class names of one panoptic map.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            panoptic_seg (np.ndarray): (h, w) int panoptic map; resized
                (nearest) to the image when their sizes differ.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB drawing.
        """
        num_classes = len(classes)
        panoptic_seg = np.asarray(panoptic_seg, dtype=np.int64)
        if panoptic_seg.shape != image.shape[:2]:
            panoptic_seg = cv2.resize(
                panoptic_seg.astype(np.float64),
                (image.shape[1], image.shape[0]),
                interpolation=cv2.INTER_NEAREST).astype(np.int64)
        drawn = blend_panoptic(image, panoptic_seg, palette, num_classes,
                               self.alpha, self.contour_color)
        self.set_image(drawn)

        segment_ids = np.unique(panoptic_seg)
        labels = segment_ids % INSTANCE_OFFSET
        is_thing = segment_ids // INSTANCE_OFFSET > 0
        named = (labels != num_classes) & (
            (is_thing & self.draw_thing_names) |
            (~is_thing & self.draw_stuff_names))
        positions, areas, names = [], [], []
        for segment_id, label in zip(segment_ids[named], labels[named]):
            mask = (panoptic_seg == segment_id).astype(np.uint8)
            _, _, stats, centroids = cv2.connectedComponentsWithStats(
                mask, connectivity=8)
            largest = np.argmax(stats[1:, cv2.CC_STAT_AREA]) + 1
            positions.append(centroids[largest])
            areas.append(stats[largest, cv2.CC_STAT_AREA])
            names.append(classes[label])
        if names:
            scales = _get_adaptive_scales(np.array(areas))
            for name, position, scale in zip(names, positions, scales):
                self.draw_texts(
                    name,
                    np.array(position),
                    colors=self.text_color,
                    font_sizes=max(int(13 * scale), 5),
                    horizontal_alignments='center',
                    vertical_alignments='center',
                    bboxes=[{
                        'facecolor': 'black',
                        'alpha': 0.6,
                        'pad': 0.5,
                        'edgecolor': 'none'
                    }])
        return self.get_image()

    # ---------------------------------------------------------------- API
    def draw_panoptic(self, image: np.ndarray,
                      panoptic_seg: Union[np.ndarray, torch.Tensor]
                      ) -> np.ndarray:
        """Draw one panoptic map (mmdet values, (H, W) or (1, H, W)) over an
        RGB image and return the RGB drawing."""
        classes, palette = self._classes_and_palette()
        panoptic_seg = _to_numpy(panoptic_seg)
        if panoptic_seg.ndim == 3:
            panoptic_seg = panoptic_seg[0]
        return self._draw_panoptic_map(
            image.clip(0, 255).astype(np.uint8), panoptic_seg, classes,
            palette)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw a data sample (``GT | prediction``) and save or show it.

        Arguments as ``DetLocalVisualizer.add_datasample``;
        ``pred_score_thr`` only applies to samples drawn by it.
        """
        image = image.clip(0, 255).astype(np.uint8)
        if data_sample is None:
            return super().add_datasample(
                name, image, None, draw_gt, draw_pred, show, wait_time,
                out_file, pred_score_thr, step)
        data_sample = data_sample.cpu()
        panoptic_gt = draw_gt and ('gt_panoptic_seg' in data_sample
                                   or 'gt_sem_seg' in data_sample)
        panoptic_pred = draw_pred and 'pred_panoptic_seg' in data_sample
        gt_map = pred_map = None
        if panoptic_gt or panoptic_pred:
            classes, palette = self._classes_and_palette()
        if panoptic_gt:
            gt_map = self.gt_panoptic_map(data_sample, len(classes))
        if panoptic_pred:
            pred_map = _to_numpy(data_sample.pred_panoptic_seg.sem_seg)[0]
        has_gt = draw_gt and any(
            key in data_sample
            for key in ('gt_instances', 'gt_sem_seg', 'gt_panoptic_seg'))
        has_pred = draw_pred and any(
            key in data_sample
            for key in ('pred_instances', 'pred_sem_seg',
                        'pred_panoptic_seg'))
        if gt_map is None and pred_map is None:
            # nothing panoptic: mmdet draws boxes, masks, semantic maps
            return super().add_datasample(
                name, image, data_sample, draw_gt, draw_pred, show,
                wait_time, out_file, pred_score_thr, step)

        panels = []
        if gt_map is not None:
            panels.append(
                self._draw_panoptic_map(image, gt_map, classes, palette))
        elif has_gt:  # instances only: mmdet's drawing
            panels.append(
                self._draw_instances(image, data_sample.gt_instances, classes,
                                     palette))
        if pred_map is not None:
            panels.append(
                self._draw_panoptic_map(image, pred_map, classes, palette))
        elif has_pred:  # no panoptic prediction: mmdet's drawing
            pred_img = image
            if 'pred_instances' in data_sample:
                instances = data_sample.pred_instances
                instances = instances[instances.scores > pred_score_thr]
                pred_img = self._draw_instances(pred_img, instances, classes,
                                                palette)
            if 'pred_sem_seg' in data_sample:
                pred_img = self._draw_sem_seg(pred_img,
                                              data_sample.pred_sem_seg,
                                              classes, palette)
            panels.append(pred_img)
        drawn_img = np.concatenate(panels, axis=1) if panels else image
        self.set_image(drawn_img)

        if show:
            self.show(drawn_img, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn_img[..., ::-1], out_file)
        else:
            self.add_image(name, drawn_img, step)
