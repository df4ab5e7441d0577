"""Panoptic FCN candidates of one level against a transcription of the
official ``inference_single_level`` (dvlab-research/PanopticFCN, commit
f4141c3, panopticfcn/panoptic_seg.py, lines 255-310, with ``topk_score``
of panopticfcn/utils.py, lines 6-43).

The official functions are transcribed here as references only.
"""
import pytest
import torch
import torch.nn.functional as F

from mmpanoptic.models.panoptic_fcn.kernel_fusion import pool_stuff_kernels
from mmpanoptic.models.panoptic_fcn.postprocessing import (stuff_candidates,
                                                           thing_candidates)


def official_topk_score(scores, K, score_shape):
    """panopticfcn/utils.py, lines 6-27 (with ``gather_feature``)."""
    batch, channel, height, width = score_shape
    topk_scores, topk_inds = torch.topk(scores.reshape(batch, channel, -1), K)
    topk_inds = topk_inds % (height * width)
    topk_score, index = torch.topk(topk_scores.reshape(batch, -1), K)
    topk_clses = torch.div(index, K, rounding_mode='floor')
    topk_inds = topk_inds.view(batch, -1).gather(1, index)
    return topk_score, topk_inds, topk_clses


def official_inference_single_level(pred_center,
                                    pred_region,
                                    pred_weights,
                                    pool_size,
                                    center_top_num=100,
                                    center_thres=0.05,
                                    sem_thres=0.05):
    """panopticfcn/panoptic_seg.py, lines 256-310 (one image)."""
    pred_center = pred_center.sigmoid()
    center_pool = F.avg_pool2d(
        pred_center,
        kernel_size=pool_size,
        stride=1,
        padding=(pool_size - 1) // 2)
    pred_center = (pred_center + center_pool) / 2.0
    fmap_max = F.max_pool2d(pred_center, 3, stride=1, padding=1)
    keep = (fmap_max == pred_center).float()
    pred_center *= keep
    weight_shape = pred_weights.shape
    center_shape = pred_center.shape
    top_num = min(center_shape[-2] * center_shape[-1], center_top_num // 2)
    sub_score, sub_index, sub_class = official_topk_score(
        pred_center, K=top_num, score_shape=center_shape)
    keep = sub_score > center_thres
    score_th = sub_score[keep]
    class_th = sub_class[keep]
    index = sub_index[keep].unsqueeze(0).long()
    inst_w = pred_weights.reshape(*weight_shape[:2], -1)
    idx_inst = index.unsqueeze(1).expand(*weight_shape[:2], -1)
    idx_feat_th = torch.gather(inst_w, dim=2, index=idx_inst)

    sem_classes = pred_region.shape[1]
    pred_region = pred_region.sigmoid()
    pred_cate = pred_region.argmax(dim=1)
    class_st, num_class_st = torch.unique(pred_cate, return_counts=True)
    pred_st_mask = F.one_hot(pred_cate, num_classes=sem_classes)
    pred_st_mask = pred_st_mask.permute(0, 3, 1, 2).contiguous()
    score_st = (pred_region * pred_st_mask).reshape(1, sem_classes, -1)
    score_st = (score_st.sum(dim=-1)[:, class_st] / num_class_st).squeeze(0)
    pred_st_mask = pred_st_mask[:, class_st]
    keep = score_st > sem_thres
    score_st = score_st[keep]
    class_st = class_st[keep]
    pred_st_mask = pred_st_mask[:, keep]
    pred_st_mask = pred_st_mask.unsqueeze(2)
    idx_feat_st = pred_st_mask * pred_weights.unsqueeze(1)
    idx_feat_st = idx_feat_st.reshape(-1, *weight_shape[-3:])
    idx_feat_st = F.adaptive_avg_pool2d(idx_feat_st, output_size=1)
    return (idx_feat_th[0].t(), class_th, score_th, idx_feat_st[:, :, 0, 0],
            score_st, class_st)


@pytest.mark.parametrize('size,pool_size', [((4, 5), 3), ((9, 11), 5)])
def test_candidates_match_official_inference_single_level(size, pool_size):
    """Thing peaks (at most ``min(H * W, 100 // 2)`` per level: 20 on the
    4x5 level, where the candidates of all classes together exceed it) and
    stuff regions with their pooled kernels (the official adaptive average
    pool: region sum / H * W)."""
    generator = torch.Generator().manual_seed(size[0])
    num_things, num_stuff, channels = 12, 4, 5
    centers = torch.randn(num_things, *size, generator=generator) - 1.0
    regions = torch.randn(num_stuff, *size, generator=generator)
    kernel_map = torch.randn(channels, *size, generator=generator)
    (official_th_kernels, official_labels, official_scores,
     official_st_kernels, official_st_scores,
     official_st_labels) = official_inference_single_level(
         centers[None], regions[None], kernel_map[None], pool_size)
    if size == (4, 5):  # the cap bites: more peaks than H * W over classes
        smoothed = (centers.sigmoid() +
                    F.avg_pool2d(centers.sigmoid()[None], pool_size, 1,
                                 (pool_size - 1) // 2)[0]) / 2
        peaks = F.max_pool2d(smoothed[None], 3, 1, 1)[0] == smoothed
        assert ((smoothed > 0.05) & peaks).sum() > 20
        assert len(official_scores) == 20

    kernels, labels, scores = thing_candidates(
        centers,
        kernel_map,
        top_k=50,
        score_thr=0.05,
        smooth_kernel_size=pool_size)
    assert labels.tolist() == official_labels.tolist()
    assert torch.equal(scores, official_scores)
    assert torch.equal(kernels, official_th_kernels)

    kernels, labels, scores = stuff_candidates(regions, kernel_map, 0.05)
    assert labels.tolist() == official_st_labels.tolist()
    assert torch.allclose(scores, official_st_scores)
    assert torch.allclose(kernels, official_st_kernels, atol=1e-6)


def test_pool_stuff_kernels_image_and_region_averages():
    """A 2-cell region of a 2x2 map: the official pool divides the kernel
    sum by 4 (``F.adaptive_avg_pool2d`` of the masked map, panoptic_seg.py,
    lines 248-250 in training and 304-306 at inference), the paper's
    region average by 2."""
    kernel_map = torch.tensor([[[2., 4.], [6., 8.]], [[1., 1.], [1., 1.]]])
    regions = torch.tensor([[1., 1., 0., 0.], [0., 0., 0., 1.]])
    official = F.adaptive_avg_pool2d(regions.view(2, 1, 2, 2) * kernel_map,
                                     1).view(2, 2)
    image = pool_stuff_kernels(regions, kernel_map)
    assert torch.equal(image, official)
    assert image.tolist() == [[1.5, 0.5], [2.0, 0.25]]
    region = pool_stuff_kernels(regions.bool(), kernel_map, 'region')
    assert region.tolist() == [[3.0, 1.0], [8.0, 1.0]]
    with pytest.raises(ValueError, match='kernel_average'):
        pool_stuff_kernels(regions, kernel_map, 'mean')
