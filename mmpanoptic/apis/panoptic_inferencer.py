"""Panoptic inference in mmdet's ``DetInferencer`` style.

    >>> from mmpanoptic.apis import PanopticInferencer
    >>> inferencer = PanopticInferencer(
    ...     'panoptic-fpn_r18_fpn_1xb4-800i_synthetic',
    ...     'work_dirs/demo/.../iter_800.pth')
    >>> results = inferencer('data/synthetic_panoptic/val', out_dir='out')

An exported Panoptic FCN (``tools/deployment/pytorch2onnx.py``) runs in ONNX
Runtime with the same outputs::

    >>> inferencer = PanopticInferencer(weights='panoptic_fcn.onnx')

writes, per image, ``out/panoptic/<stem>.png`` (COCO panoptic PNG:
``segment id = R + 256 G + 256^2 B``, 0 = VOID), ``out/panoptic/<stem>.json``
(its ``segments_info``) and ``out/vis/<image name>`` (the overlay).
"""
import copy
import math
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import mmengine
import numpy as np
import torch.nn as nn
from mmdet.apis import DetInferencer
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from mmpanoptic.registry import DATASETS
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import find_config
from mmpanoptic.utils.panoptic_ids import id2rgb


def panoptic_to_coco(
        panoptic_seg: np.ndarray,
        num_classes: int,
        num_things_classes: Optional[int] = None
) -> Tuple[np.ndarray, List[dict]]:
    """mmdet's panoptic map -> COCO panoptic segment ids and segments_info.

    Args:
        panoptic_seg (np.ndarray): (H, W) int, ``label + instance_id *
            INSTANCE_OFFSET``, ``label == num_classes`` is VOID.
        num_classes (int): Things + stuff.
        num_things_classes (int, optional): Labels ``[0, T)`` are things;
            None: a segment is a thing when its instance id is > 0.

    Returns:
        tuple:
        - np.ndarray: (H, W) int32 segment ids, ``1..K`` in the order of the
          panoptic values, 0 for VOID.
        - list[dict]: per segment ``id``, ``category_id`` (the label, i.e.
          the index in the model's ``classes``), ``isthing``, ``area``,
          ``bbox`` ([x, y, w, h], COCO) and ``iscrowd`` (0).
    """
    panoptic_seg = np.asarray(panoptic_seg, dtype=np.int64)
    values, inverse = np.unique(panoptic_seg, return_inverse=True)
    inverse = inverse.reshape(panoptic_seg.shape)
    labels = values % INSTANCE_OFFSET
    if labels.size and labels.max() > num_classes:
        raise ValueError(
            f'panoptic label {int(labels.max())} is out of range for '
            f'{num_classes} classes (label {num_classes} is VOID)')
    kept = labels != num_classes
    new_ids = np.zeros(len(values), dtype=np.int32)
    new_ids[kept] = np.arange(1, int(kept.sum()) + 1)
    segment_ids = new_ids[inverse]

    areas = np.bincount(segment_ids.ravel(), minlength=len(values) + 1)
    segments_info = []
    for value, label, segment_id in zip(values[kept], labels[kept],
                                        new_ids[kept]):
        ys, xs = np.nonzero(segment_ids == segment_id)
        if num_things_classes is None:
            is_thing = value // INSTANCE_OFFSET > 0
        else:
            is_thing = label < num_things_classes
        segments_info.append(
            dict(
                id=int(segment_id),
                category_id=int(label),
                isthing=int(is_thing),
                iscrowd=0,
                area=int(areas[segment_id]),
                bbox=[
                    int(xs.min()),
                    int(ys.min()),
                    int(xs.max() - xs.min() + 1),
                    int(ys.max() - ys.min() + 1)
                ]))
    return segment_ids, segments_info


BACKENDS = ('pytorch', 'onnxruntime')


def resolve_backend(backend: Optional[str], weights: Optional[str]) -> str:
    """'pytorch' or 'onnxruntime': ``backend``, or from the suffix of
    ``weights`` when None; an ``.onnx`` file and a checkpoint cannot be
    swapped."""
    is_onnx = weights is not None and weights.endswith('.onnx')
    if backend is None:
        return 'onnxruntime' if is_onnx else 'pytorch'
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if backend == 'onnxruntime' and not is_onnx:
        raise ValueError('the onnxruntime backend needs an .onnx file '
                         '(tools/deployment/pytorch2onnx.py) as weights, got '
                         f'{weights!r}')
    if backend == 'pytorch' and is_onnx:
        raise ValueError(f'{weights} is an ONNX file: use '
                         "backend='onnxruntime'")
    return backend


class _Batches:
    """Batches of a known count, so that the progress bar shows N/M."""

    def __init__(self, batches: Iterator, count: int) -> None:
        self.batches = batches
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        return iter(self.batches)


class PanopticInferencer(DetInferencer):
    """mmdet's ``DetInferencer`` for mmpanoptic models.

    What differs from mmdet's:

    * ``model`` may be a config path or the name of an mmpanoptic config
      (``'upsnet_r18_fpn_1xb4-800i_synthetic'``);
    * classes and palette come from the checkpoint or, when it has none
      (or without a checkpoint), from the config's test dataset, never
      COCO's by default;
    * annotation loading is removed from the test pipeline (an image has
      no annotations at inference);
    * predictions are written in COCO panoptic format: ``panoptic/<stem>.png``
      and ``panoptic/<stem>.json`` under ``out_dir`` (on by default), the
      overlay drawn by ``PanopticLocalVisualizer`` under ``out_dir/vis``;
    * the progress bar counts the batches of a folder or list;
    * ``weights`` may be an ``.onnx`` file exported by
      ``tools/deployment/pytorch2onnx.py`` (backend ``'onnxruntime'``): the
      graph runs in ONNX Runtime (CPU) and the outputs are the same; the
      config and the classes stored in the file are used unless ``model``
      is given.

    Args:
        model (str | Config, optional): Config path, config name or config;
            may be None with an ``.onnx`` file.
        weights (str, optional): Checkpoint path, or ``.onnx`` file. None:
            random weights (a warning says so).
        device (str, optional): 'cpu', 'cuda:0', ...; None picks one ('cpu'
            for ONNX Runtime).
        scope (str): Default scope. Defaults to 'mmpanoptic'.
        palette (str | list): Overrides the dataset palette ('random',
            'coco', a list of RGB tuples); 'none' keeps it.
        show_progress (bool): Show a progress bar.
        backend (str, optional): 'pytorch' or 'onnxruntime'; None: from the
            suffix of ``weights`` ('.onnx' is ONNX Runtime's).
    """

    def __init__(self,
                 model=None,
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: str = 'mmpanoptic',
                 palette: str = 'none',
                 show_progress: bool = True,
                 backend: Optional[str] = None) -> None:
        register_all_modules(init_default_scope=False)
        self.backend = resolve_backend(backend, weights)
        if self.backend == 'onnxruntime':
            device = device or 'cpu'
            if model is None:  # the config stored in the exported file
                from mmpanoptic.deployment import read_export_metadata
                model = Config.fromstring(
                    read_export_metadata(weights)['config'], '.py')
        if isinstance(model, str):
            model = find_config(model)
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            palette=palette,
            show_progress=show_progress)

    # ------------------------------------------------------------- set-up
    def _init_model(self,
                    cfg,
                    weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """The PyTorch model (mmengine's), or the exported graph in ONNX
        Runtime with the config's data preprocessor."""
        if self.backend == 'pytorch':
            return super()._init_model(cfg, weights, device)
        from mmpanoptic.deployment import ONNXRuntimePanopticFCN
        model = ONNXRuntimePanopticFCN(weights, cfg.model.data_preprocessor)
        model.cfg = cfg
        model.dataset_meta = self._dataset_meta(
            cfg,
            model.export_meta.get('dataset_meta') or {}, True)
        return model.to(device).eval()

    def _load_weights_to_model(self, model: nn.Module,
                               checkpoint: Optional[dict], cfg) -> None:
        """Load the weights; classes and palette from the checkpoint's
        ``dataset_meta``, else from the config's test dataset."""
        checkpoint_meta = {}
        if checkpoint is not None:
            _load_checkpoint_to_model(model, checkpoint)
            checkpoint_meta = checkpoint.get('meta',
                                             {}).get('dataset_meta', {})
        else:
            warnings.warn('No checkpoint given: the predictions come from a '
                          'randomly initialised model.')
        model.dataset_meta = self._dataset_meta(cfg, checkpoint_meta,
                                                checkpoint is not None)

    def _dataset_meta(self, cfg, stored_meta: dict, has_weights: bool) -> dict:
        """Classes and palette: ``stored_meta`` (a checkpoint's or an
        exported file's) over the config's test dataset's."""
        test_dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
        test_dataset_cfg['lazy_init'] = True  # only the metainfo is needed
        dataset_meta = dict(DATASETS.build(test_dataset_cfg).metainfo)
        if stored_meta:
            dataset_meta.update({k.lower(): v for k, v in stored_meta.items()})
        elif has_weights:
            warnings.warn('The checkpoint holds no dataset_meta: using the '
                          'classes of the config\'s test dataset.')
        if self.palette != 'none':
            dataset_meta['palette'] = self.palette
        elif dataset_meta.get('palette') is None:
            dataset_meta['palette'] = 'random'
        return dataset_meta

    def _init_visualizer(self, cfg):
        """The config's visualizer without its storage backends: the
        inferencer writes its drawings itself (``out_dir``), and a
        ``LocalVisBackend`` without a ``save_dir`` would only warn."""
        cfg = copy.deepcopy(cfg)
        if cfg.get('visualizer') is not None:
            cfg.visualizer.vis_backends = None
        return super()._init_visualizer(cfg)

    def _init_pipeline(self, cfg):
        """The test pipeline without annotation loading."""
        cfg = copy.deepcopy(cfg)
        pipeline_cfg = cfg.test_dataloader.dataset.pipeline
        cfg.test_dataloader.dataset.pipeline = [
            transform for transform in pipeline_cfg
            if not (isinstance(transform['type'], str)
                    and transform['type'].endswith('Annotations'))
        ]
        return super()._init_pipeline(cfg)

    def preprocess(self, inputs: Sequence, batch_size: int = 1, **kwargs):
        """mmdet's batches, with their number (for the progress bar)."""
        count = math.ceil(len(inputs) / batch_size)
        return _Batches(
            super().preprocess(inputs, batch_size=batch_size, **kwargs), count)

    def __call__(self,
                 inputs,
                 batch_size: int = 1,
                 out_dir: str = '',
                 no_save_pred: bool = False,
                 **kwargs) -> dict:
        """Run the model on an image, a folder or a list (paths or RGB
        arrays).

        Args:
            inputs (str | np.ndarray | list): What to predict on.
            batch_size (int): Images per forward pass.
            out_dir (str): Where ``panoptic/`` and ``vis/`` are written;
                '' writes nothing.
            no_save_pred (bool): Do not write ``panoptic/``.
            **kwargs: ``DetInferencer.__call__`` arguments (``show``,
                ``no_save_vis``, ``return_vis``, ``return_datasamples``,
                ``print_result`` ...).

        Returns:
            dict: ``predictions``: per image a dict with ``segments_info``
            and ``panoptic_seg`` (the (H, W) segment-id map) or
            ``panoptic_seg_path`` and ``segments_info_path`` when written;
            ``visualization``: overlays when ``return_vis``.
        """
        if isinstance(inputs, str) and osp.isdir(inputs):
            inputs = sorted(self._inputs_to_list(inputs))
        inputs = self._inputs_to_list(inputs)
        if not inputs:
            raise ValueError('no input image: the folder or list is empty')
        return super().__call__(
            inputs,
            batch_size=batch_size,
            out_dir=out_dir,
            no_save_pred=no_save_pred,
            **kwargs)

    # ----------------------------------------------------------- outputs
    def pred2dict(self,
                  data_sample: DetDataSample,
                  pred_out_dir: str = '') -> Dict:
        """A prediction in COCO panoptic format, written under
        ``pred_out_dir/panoptic`` unless ``pred_out_dir`` is ''."""
        if 'pred_panoptic_seg' not in data_sample:
            raise ValueError(
                'the model returned no pred_panoptic_seg: '
                f'{type(self.model).__name__} is not a panoptic model')
        classes = self.model.dataset_meta['classes']
        thing_classes = self.model.dataset_meta.get('thing_classes')
        panoptic_seg = data_sample.pred_panoptic_seg.sem_seg.cpu().numpy()[0]
        segment_ids, segments_info = panoptic_to_coco(
            panoptic_seg, len(classes),
            len(thing_classes) if thing_classes is not None else None)
        for segment in segments_info:
            segment['category_name'] = classes[segment['category_id']]

        if pred_out_dir == '':
            return dict(panoptic_seg=segment_ids, segments_info=segments_info)

        if 'img_path' in data_sample:
            stem = osp.splitext(osp.basename(data_sample.img_path))[0]
        else:
            stem = f'{self.num_predicted_imgs:08d}'
            self.num_predicted_imgs += 1
        out_dir = osp.join(pred_out_dir, 'panoptic')
        os.makedirs(out_dir, exist_ok=True)
        png_path = osp.join(out_dir, stem + '.png')
        json_path = osp.join(out_dir, stem + '.json')
        cv2.imwrite(png_path, id2rgb(segment_ids)[..., ::-1])
        mmengine.dump(
            dict(
                file_name=osp.basename(png_path),
                image=data_sample.get('img_path', None),
                segments_info=segments_info,
                categories=[
                    dict(
                        id=label,
                        name=name,
                        isthing=int(thing_classes is not None
                                    and label < len(thing_classes)))
                    for label, name in enumerate(classes)
                ]),
            json_path,
            indent=2)
        return dict(
            panoptic_seg_path=png_path,
            segments_info_path=json_path,
            segments_info=segments_info)
