"""Panoptic FCN: box-free, NMS-free panoptic segmentation with generated
kernels (Li et al., "Fully Convolutional Networks for Panoptic
Segmentation", CVPR 2021)."""
from typing import Dict, List, Tuple

from mmdet.models.detectors.base import BaseDetector
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from mmpanoptic.registry import MODELS


@MODELS.register_module()
class PanopticFCN(BaseDetector):
    """Single-stage panoptic segmentor: backbone, FPN (P2..P7) and
    :class:`PanopticFCNHead`.

    ``predict`` fills ``pred_panoptic_seg`` (mmdet encoding: label +
    instance_id * 1000, VOID = num_classes), ``pred_sem_seg`` (dense labels
    in [0, num_classes): the panoptic label, the best stuff class where the
    panoptic result is VOID) and ``pred_instances`` (masks, labels, scores,
    boxes).

    Args:
        backbone (dict): e.g. mmdet ResNet.
        neck (dict): mmdet FPN with 6 outputs (P6/P7 from P5's output).
        panoptic_head (dict): :class:`PanopticFCNHead`.
        test_cfg (dict, optional): passed to the head's ``test_cfg``.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 panoptic_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        panoptic_head = dict(panoptic_head)
        if test_cfg is not None:
            panoptic_head['test_cfg'] = test_cfg
        self.panoptic_head = MODELS.build(panoptic_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """(N, 3, H, W) -> FPN features P2..P7."""
        return self.neck(self.backbone(batch_inputs))

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of eq. (9)."""
        return self.panoptic_head.loss(
            self.extract_feat(batch_inputs), batch_data_samples)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Panoptic, semantic and instance predictions per image."""
        results = self.panoptic_head.predict(
            self.extract_feat(batch_inputs), batch_data_samples, rescale)
        for data_sample, result in zip(batch_data_samples, results):
            data_sample.pred_panoptic_seg = result['pan_results']
            data_sample.pred_sem_seg = result['sem_results']
            data_sample.pred_instances = result['ins_results']
        return batch_data_samples

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None
                 ) -> Tuple[List[Tensor], List[Tensor], List[Tensor],
                            Tensor]:
        """Network outputs without post-processing (for export/FLOPs)."""
        return self.panoptic_head(self.extract_feat(batch_inputs))
