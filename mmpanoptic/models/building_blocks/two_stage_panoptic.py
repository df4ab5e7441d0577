"""The two-stage base of UPSNet, AUNet and the Unifying model: mmdet's
``TwoStagePanopticSegmentor`` (backbone, neck, RPN, RoI head, semantic head,
panoptic fusion head) with the plumbing the three share written once."""
import copy
from typing import Dict, List, Tuple

import torch
from mmdet.models.detectors import TwoStagePanopticSegmentor
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor


def _config(cfg: OptConfigType) -> OptConfigType:
    return None if cfg is None else ConfigDict(cfg)


class TwoStagePanopticBase(TwoStagePanopticSegmentor):
    """mmdet's two-stage panoptic segmentor, checked for consistent class
    counts, with the RPN training step shared by its subclasses.

    ``panoptic_fusion_head`` is built with ``test_cfg.panoptic`` as its
    ``test_cfg`` (mmdet's convention); the model's ``num_things_classes``,
    ``num_stuff_classes`` and ``num_classes`` are the fusion head's.

    Args:
        backbone, neck, rpn_head, roi_head (dict): as mmdet's
            ``TwoStageDetector``.
        semantic_head (dict): semantic head with ``num_things_classes`` and
            ``num_stuff_classes``.
        panoptic_fusion_head (dict): panoptic head with the same counts.
        train_cfg, test_cfg (dict): mmdet's ``rpn``, ``rpn_proposal``,
            ``rcnn`` and ``panoptic``.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 semantic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        test_cfg = ConfigDict(test_cfg or {})
        test_cfg.setdefault('panoptic', ConfigDict())
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=_config(train_cfg),
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg,
            semantic_head=semantic_head,
            panoptic_fusion_head=_config(panoptic_fusion_head))
        self._check_class_counts()

    def _check_class_counts(self) -> None:
        """The semantic head, the fusion head and the box head must agree on
        the classes: a mismatch would train silently on wrong labels."""
        name = type(self).__name__
        counts = dict(
            panoptic_fusion_head=(self.num_things_classes,
                                  self.num_stuff_classes),
            semantic_head=(self.semantic_head.num_things_classes,
                           self.semantic_head.num_stuff_classes))
        if counts['panoptic_fusion_head'] != counts['semantic_head']:
            raise ValueError(f'{name}: (things, stuff) classes differ '
                             f'between heads: {counts}')
        bbox_classes = self.roi_head.bbox_head.num_classes
        if bbox_classes != self.num_things_classes:
            raise ValueError(
                f'{name}: roi_head.bbox_head.num_classes={bbox_classes} '
                f'must equal the {self.num_things_classes} thing classes')

    def rpn_loss_and_proposals(self, x: Tuple[Tensor],
                               batch_data_samples: SampleList
                               ) -> Tuple[Dict[str, Tensor],
                                          List[InstanceData]]:
        """Class-agnostic RPN losses (named ``rpn_*``) and the proposals of
        the training step, as mmdet's two-stage ``loss``."""
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        rpn_data_samples = copy.deepcopy(batch_data_samples)
        for data_sample in rpn_data_samples:
            data_sample.gt_instances.labels = \
                torch.zeros_like(data_sample.gt_instances.labels)
        rpn_losses, proposals = self.rpn_head.loss_and_predict(
            x, rpn_data_samples, proposal_cfg=proposal_cfg)
        return rename_rpn_losses(rpn_losses), proposals


def rename_rpn_losses(rpn_losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """``loss_cls`` -> ``rpn_loss_cls`` etc., so that RPN and R-CNN losses
    do not collide (mmdet's convention)."""
    return {(f'rpn_{key}' if 'loss' in key and 'rpn' not in key else key):
            value
            for key, value in rpn_losses.items()}
