"""Panoptic FCN losses against transcriptions of the official code
(dvlab-research/PanopticFCN, commit f4141c3).

The official functions are transcribed here as references only; the module
code is our own. Ground truth is given to both sides in the same form: our
``get_targets`` output, laid out as the official ``GenerateGT`` tensors.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.models.panoptic_fcn.weighted_dice_loss import WeightedDiceLoss

from .test_panoptic_fcn import C, S, T, tiny_head

CE = C  # encoded channels
INPUT = (64, 64)
LEVELS = [(8, 8), (4, 4), (3, 3), (3, 3), (3, 3)]  # >= k cells each
ENCODED = (16, 16)
K = 7
TENSOR_DIM = 10  # the official MODEL.TENSOR_DIM (100 in its config)


# ----------------------------------------------------------- transcriptions
def official_sigmoid_focal_loss(inputs, targets, mode, alpha=0.25, gamma=2):
    """panopticfcn/loss.py, lines 75-123 (``reduction='sum'``)."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(
        inputs, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t)**gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    loss = alpha_t * loss
    if mode == 'stuff':
        loss = loss.reshape(*loss.shape[:2], -1).mean(dim=-1)
    return loss.sum()


def official_weighted_dice_loss(prediction,
                                target_seg,
                                gt_num,
                                index_mask,
                                instance_num=0,
                                weighted_val=1.0,
                                weighted_num=1,
                                mode='thing',
                                eps=1e-8):
    """panopticfcn/loss.py, lines 7-72 (``reduction='sum'``)."""
    if gt_num == 0:
        loss = prediction[0][0].sigmoid().mean() + eps
        return loss * gt_num
    n, _, h, w = target_seg.shape
    if mode == 'thing':
        prediction = prediction.reshape(n, instance_num, weighted_num, h, w)
        prediction = prediction.reshape(-1, weighted_num, h, w)[index_mask,
                                                                ...]
        target_seg = target_seg.unsqueeze(2).expand(n, instance_num,
                                                    weighted_num, h, w)
        target_seg = target_seg.reshape(-1, weighted_num, h, w)[index_mask,
                                                                ...]
        weighted_val = weighted_val.reshape(-1, weighted_num)[index_mask, ...]
        weighted_val = weighted_val / torch.clamp(
            weighted_val.sum(dim=-1, keepdim=True), min=eps)
        prediction = torch.sigmoid(prediction)
        prediction = prediction.reshape(int(gt_num), weighted_num, h * w)
        target_seg = target_seg.reshape(int(gt_num), weighted_num, h * w)
    else:
        prediction = prediction.reshape(-1, h, w)[index_mask, ...]
        target_seg = target_seg.reshape(-1, h, w)[index_mask, ...]
        prediction = torch.sigmoid(prediction)
        prediction = prediction.reshape(int(gt_num), h * w)
        target_seg = target_seg.reshape(int(gt_num), h * w)
    loss_part = (prediction**2).sum(dim=-1) + (target_seg**2).sum(dim=-1)
    loss = 1 - 2 * (target_seg * prediction).sum(dim=-1) / torch.clamp(
        loss_part, min=eps)
    loss = loss * weighted_val
    return loss.sum()


def official_loss_single_level(pred_center, pred_region, pred_weights,
                               gt_center, gt_inst, gt_index_mask, gt_class,
                               gt_sem_scores, gt_sem_masks, gt_sem_index,
                               weighted_num):
    """panopticfcn/panoptic_seg.py, lines 201-253."""
    loss_pos_th = official_sigmoid_focal_loss(pred_center, gt_center, 'thing')
    loss_pos_st = official_sigmoid_focal_loss(pred_region, gt_sem_scores,
                                              'stuff')
    batch_num, _, feat_h, feat_w = pred_center.shape
    guided_inst = F.interpolate(
        gt_inst, size=(feat_h, feat_w), mode='bilinear', align_corners=False)
    guidence = torch.zeros_like(guided_inst)
    pred_select = []
    for _idx in range(batch_num):
        sub_pred = pred_center[_idx]
        sub_class = gt_class[_idx].to(torch.int64)
        sub_select = torch.index_select(sub_pred, dim=0, index=sub_class)
        pred_select.append(sub_select.sigmoid())
    pred_select = torch.stack(pred_select, dim=0)
    keep = (guided_inst > 0.1) & (guided_inst < 255)
    guidence[keep] = pred_select[keep]
    weighted_values, guided_index = torch.topk(
        guidence.reshape(*guided_inst.shape[:2], -1), k=weighted_num, dim=-1)
    thing_num = int(max(gt_index_mask.sum(dim=1).max(), 1))
    guided_index = guided_index[:, :thing_num, :]
    guided_index = guided_index.reshape(batch_num, -1)
    weighted_values = weighted_values[:, :thing_num, :]
    weight_shape = pred_weights.shape
    inst_w = pred_weights.reshape(*weight_shape[:2], -1)
    idx_inst = guided_index.unsqueeze(1).expand(*weight_shape[:2], -1)
    idx_feat_th = torch.gather(inst_w, dim=2, index=idx_inst)
    idx_feat_th = idx_feat_th.reshape(*weight_shape[:2], thing_num,
                                      weighted_num)
    stuff_num = int(max(gt_sem_index.sum(dim=1).max(), 1))
    gt_sem_masks = gt_sem_masks[:, :stuff_num]
    gt_sem_masks = gt_sem_masks.unsqueeze(2)
    idx_feat_st = gt_sem_masks * pred_weights.unsqueeze(1)
    idx_feat_st = idx_feat_st.reshape(-1, *weight_shape[-3:])
    idx_feat_st = F.adaptive_avg_pool2d(idx_feat_st, output_size=1)
    idx_feat_st = idx_feat_st.reshape(batch_num, -1, weight_shape[1], 1, 1)
    return (loss_pos_th, loss_pos_st, idx_feat_th, weighted_values,
            idx_feat_st, thing_num, stuff_num)


def official_losses(pred_centers,
                    pred_regions,
                    pred_weights,
                    encode_feat,
                    gt_dict,
                    thing_embed,
                    stuff_embed,
                    weighted_num,
                    seg_weight=3.0,
                    pos_weight=1.0):
    """panopticfcn/panoptic_seg.py, lines 140-199, with the training paths
    of ``ThingGenerator`` / ``StuffGenerator`` (head.py, lines 167-177 and
    224-232); ``thing_embed`` / ``stuff_embed`` are the 1x1
    ``embed_extractor`` convs."""
    feat_shape = encode_feat.shape
    encode_feat = encode_feat.reshape(*feat_shape[:2], -1)
    outputs = [
        official_loss_single_level(*args, weighted_num) for args in zip(
            pred_centers, pred_regions, pred_weights, gt_dict['center'],
            gt_dict['inst'], gt_dict['index_mask'], gt_dict['class'],
            gt_dict['sem_scores'], gt_dict['sem_masks'], gt_dict['sem_index'])
    ]
    (loss_pos_ths, loss_pos_sts, idx_feat_th, weighted_values, idx_feat_st,
     thing_nums, stuff_nums) = map(list, zip(*outputs))
    thing_num = sum(thing_nums)
    stuff_num = sum(stuff_nums)
    idx_feat_th = torch.cat(idx_feat_th, dim=2)
    weighted_values = torch.cat(weighted_values, dim=1)
    idx_feat_st = torch.cat(idx_feat_st, dim=1)
    idx_feat_st = idx_feat_st.reshape(-1, *idx_feat_st.shape[2:])
    n, _, h, w = feat_shape
    # ThingGenerator.forward (training)
    meta_weight = thing_embed(idx_feat_th)
    meta_weight = meta_weight.reshape(*meta_weight.shape[:2], -1)
    meta_weight = meta_weight.permute(0, 2, 1)
    thing_pred = torch.matmul(meta_weight, encode_feat).reshape(n, -1, h, w)
    # StuffGenerator.forward (training)
    meta_weight = stuff_embed(idx_feat_st)
    meta_weight = meta_weight.reshape(n, -1, meta_weight.shape[1])
    stuff_pred = torch.matmul(meta_weight, encode_feat).reshape(n, -1, h, w)

    thing_gt_idx = [
        _gt[:, :thing_nums[_idx]]
        for _idx, _gt in enumerate(gt_dict['index_mask'])
    ]
    thing_gt_idx = torch.cat(thing_gt_idx, dim=1).reshape(-1).bool()
    thing_gt_num = int(thing_gt_idx.sum())
    thing_gt = [
        _gt[:, :thing_nums[_idx], ...]
        for _idx, _gt in enumerate(gt_dict['inst'])
    ]
    thing_gt = torch.cat(thing_gt, dim=1)
    loss_thing = official_weighted_dice_loss(thing_pred, thing_gt,
                                             thing_gt_num, thing_gt_idx,
                                             thing_num, weighted_values,
                                             weighted_num, 'thing')
    stuff_gt_idx = [
        _gt[:, :stuff_nums[_idx]]
        for _idx, _gt in enumerate(gt_dict['sem_index'])
    ]
    stuff_gt_idx = torch.cat(stuff_gt_idx, dim=1).reshape(-1).bool()
    stuff_gt_num = int(stuff_gt_idx.sum())
    stuff_gt = [
        _gt[:, :stuff_nums[_idx], ...]
        for _idx, _gt in enumerate(gt_dict['sem_labels'])
    ]
    stuff_gt = torch.cat(stuff_gt, dim=1)
    loss_stuff = official_weighted_dice_loss(stuff_pred, stuff_gt,
                                             stuff_gt_num, stuff_gt_idx,
                                             stuff_num, 1.0, 1, 'stuff')
    return dict(
        loss_pos_th=pos_weight * sum(loss_pos_ths) / max(thing_gt_num, 1),
        loss_pos_st=pos_weight * sum(loss_pos_sts) / max(feat_shape[0], 1),
        loss_seg_th=seg_weight * loss_thing / max(thing_gt_num, 1),
        loss_seg_st=seg_weight * loss_stuff / max(stuff_gt_num, 1))


def official_gt_dict(targets, num_stuff_channels):
    """Our per-image targets laid out as the official ``GenerateGT``
    tensors (panopticfcn/gt_generate.py, lines 106-168 and 193-227):
    ``TENSOR_DIM`` object slots per level (255 masks in unused slots), the
    present stuff classes first in ``sem_labels`` / ``sem_masks``."""
    gt = {
        key: []
        for key in ('center', 'inst', 'index_mask', 'class', 'sem_scores',
                    'sem_labels', 'sem_masks', 'sem_index')
    }
    for level in range(len(LEVELS)):
        per_image = {key: [] for key in gt}
        for target in targets:
            level_target = target['levels'][level]
            index = level_target['object_index']
            inst = torch.full((TENSOR_DIM, *ENCODED), 255.0)
            inst[:len(index)] = target['thing_masks'][index]
            index_mask = torch.zeros(TENSOR_DIM)
            index_mask[:len(index)] = 1
            classes = torch.zeros(TENSOR_DIM)
            classes[:len(index)] = target['labels'][index].float()
            scores = level_target['stuff']
            present = scores.flatten(1).sum(dim=1) > 0
            num_sem = int(present.sum())
            sem_labels = torch.zeros(num_stuff_channels, *ENCODED)
            sem_labels[:num_sem] = target['stuff'][present]
            sem_masks = torch.zeros_like(scores)
            sem_masks[:num_sem] = scores[present].bool().float()
            sem_index = torch.zeros(num_stuff_channels)
            sem_index[:num_sem] = 1
            for key, value in (('center', level_target['heatmap']),
                               ('inst', inst), ('index_mask', index_mask),
                               ('class', classes), ('sem_scores', scores),
                               ('sem_labels', sem_labels),
                               ('sem_masks', sem_masks), ('sem_index',
                                                          sem_index)):
                per_image[key].append(value)
        for key in gt:
            gt[key].append(torch.stack(per_image[key]))
    return gt


# ------------------------------------------------------------------ helpers
def loss_head():
    """The tiny head of test_panoptic_fcn.py with random kernel
    projections (not the identity)."""
    head = tiny_head()
    head.init_weights()
    with torch.no_grad():
        for projection in (head.thing_kernel_projection,
                           head.stuff_kernel_projection):
            projection.weight.normal_()
            projection.bias.normal_()
    return head


def square(mask, top, left, side):
    mask[top:top + side, left:left + side] = 1
    return [left, top, left + side, top + side]


def loss_samples():
    """Two 64x64 images: things of 12, 20 and 40 px (the 40 px one on P3
    and P4), a crowd block (thing label, no instance), a VOID block and the
    right padding columns VOID as the data preprocessor pads them."""
    samples = []
    h, w = INPUT
    # image 0: stuff 0 left, stuff 1 right, VOID block, crowd of class 0
    sem = np.full((h, w), T, np.int64)
    sem[:, 32:] = T + 1
    sem[:6, :10] = 255
    sem[50:60, 2:14] = 0
    masks = np.zeros((3, h, w), np.uint8)
    boxes = [
        square(masks[0], 8, 36, 12),
        square(masks[1], 20, 4, 40),
        square(masks[2], 44, 44, 20)
    ]
    labels = [1, 0, 1]
    for mask, label in zip(masks, labels):
        sem[mask.astype(bool)] = label
    samples.append((sem, masks, boxes, labels))
    # image 1: one thing, stuff 1 only, 8 padding columns (VOID)
    sem = np.full((h, w), T + 1, np.int64)
    sem[:, 56:] = 255
    masks = np.zeros((1, h, w), np.uint8)
    boxes = [square(masks[0], 30, 10, 20)]
    labels = [0]
    sem[masks[0].astype(bool)] = 0
    samples.append((sem, masks, boxes, labels))

    data_samples = []
    for sem, masks, boxes, labels in samples:
        sample = DetDataSample(metainfo=dict(batch_input_shape=INPUT))
        sample.gt_instances = InstanceData(
            masks=BitmapMasks(masks, h, w),
            labels=torch.tensor(labels),
            bboxes=torch.tensor(boxes, dtype=torch.float32))
        sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(sem)[None])
        data_samples.append(sample)
    return data_samples


def head_outputs(seed=0):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator).requires_grad_()

    centers = [randn(2, T, *size) for size in LEVELS]
    stuff = [randn(2, S + 1, *size) for size in LEVELS]
    kernels = [randn(2, C, *size) for size in LEVELS]
    encoded = randn(2, CE, *ENCODED)
    return centers, stuff, kernels, encoded


# -------------------------------------------------------------------- tests
def test_weighted_dice_loss_matches_official_thing_and_stuff_modes():
    """Our ``WeightedDiceLoss`` against the official ``weighted_dice_loss``
    (panopticfcn/loss.py, lines 7-72): padded object slots left out by the
    index mask, k weighted predictions per object, every pixel of the map
    counted (padding and ignored pixels are target 0)."""
    generator = torch.Generator().manual_seed(1)
    n, slots, k, h, w = 2, 3, 4, 5, 6
    logits = torch.randn(n, slots * k, h, w, generator=generator)
    targets = (torch.rand(n, slots, h, w, generator=generator) > 0.5).float()
    targets[..., -2:] = 0  # padding columns
    scores = torch.rand(n, slots, k, generator=generator)
    scores[0, 1, 2:] = 0  # picks outside the object
    index_mask = torch.tensor([[1, 1, 0], [1, 0, 0]]).reshape(-1).bool()
    official = official_weighted_dice_loss(logits, targets, 3, index_mask,
                                           slots, scores, k, 'thing')
    keep = index_mask.view(n, slots)
    ours = WeightedDiceLoss(loss_weight=1.0)(
        logits.view(n, slots, k, h * w)[keep],
        targets.flatten(2)[keep],
        scores[keep],
        avg_factor=1)
    assert ours.item() == pytest.approx(official.item(), rel=1e-6)

    stuff_logits = torch.randn(n, slots, h, w, generator=generator)
    official = official_weighted_dice_loss(stuff_logits, targets, 3,
                                           index_mask, slots, 1.0, 1, 'stuff')
    ours = WeightedDiceLoss(loss_weight=1.0)(
        stuff_logits.flatten(2)[keep], targets.flatten(2)[keep], avg_factor=1)
    assert ours.item() == pytest.approx(official.item(), rel=1e-6)


def test_losses_and_gradients_match_official_losses():
    """The head's four losses and their gradients against the official
    ``losses`` / ``loss_single_level`` (panopticfcn/panoptic_seg.py, lines
    109-253), ``sigmoid_focal_loss`` and ``weighted_dice_loss``
    (panopticfcn/loss.py, lines 7-123), on the same head outputs and the
    same ground truth. This covers: crowd and VOID cells as negatives of
    the things heatmap; the stuff focal loss averaged over all H_i W_i
    cells (ignored ones included); the weighted Dice over the whole padded
    1/4 map; the top-k kernel picks inside the object's region only (no
    forced centre cell), weighted by the non-detached heatmap scores; the
    stuff kernels as the adaptive average pool of the masked kernel map."""
    head = loss_head()
    samples = loss_samples()
    outputs = head_outputs()
    ours = head.loss_by_feat(*outputs, samples)

    targets = [
        head.get_targets(sample, INPUT, LEVELS, ENCODED) for sample in samples
    ]
    # the crowd block (rows 50-59, cols 2-13) is no heatmap positive: its
    # cells are negatives (target 0), as every other non-centre cell
    assert targets[0]['levels'][0]['heatmap'][:, 6:7, 0:1].sum() == 0
    # the 40 px object sits on two levels, the 12 px one on P3 only
    assert targets[0]['levels'][0]['object_index'].tolist() == [0, 1, 2]
    assert targets[0]['levels'][1]['object_index'].tolist() == [1]

    gt_dict = official_gt_dict(targets, S + 1)
    thing_embed = torch.nn.Conv2d(C, CE, 1)
    stuff_embed = torch.nn.Conv2d(C, CE, 1)
    with torch.no_grad():
        for embed, projection in ((thing_embed, head.thing_kernel_projection),
                                  (stuff_embed, head.stuff_kernel_projection)):
            embed.weight.copy_(projection.weight[:, :, None, None])
            embed.bias.copy_(projection.bias)
    official_outputs = [[t.detach().clone().requires_grad_() for t in group]
                        for group in outputs[:3]]
    official_encoded = outputs[3].detach().clone().requires_grad_()
    official = official_losses(*official_outputs, official_encoded, gt_dict,
                               thing_embed, stuff_embed, K)

    names = dict(
        loss_pos_things='loss_pos_th',
        loss_pos_stuff='loss_pos_st',
        loss_seg_things='loss_seg_th',
        loss_seg_stuff='loss_seg_st')
    for ours_name, official_name in names.items():
        assert ours[ours_name].item() == pytest.approx(
            official[official_name].item(), rel=1e-5), ours_name
        assert ours[ours_name].item() > 0

    sum(ours.values()).backward()
    sum(official.values()).backward()
    for group, official_group in zip(outputs[:3], official_outputs):
        for tensor, official_tensor in zip(group, official_group):
            assert torch.allclose(
                tensor.grad, official_tensor.grad, rtol=1e-4, atol=1e-7)
    assert torch.allclose(
        outputs[3].grad, official_encoded.grad, rtol=1e-4, atol=1e-7)
    # the Dice loss reaches the things heatmap through the pick weights
    assert outputs[0][0].grad.abs().sum() > 0


def test_object_without_cells_on_a_level_adds_no_mask_loss():
    """An object whose 1/4 mask vanishes on a level (> 0.1 nowhere) gets
    only weight-0 picks there, as in the official code: its Dice term is 0
    while it still counts in the normaliser."""
    head = loss_head()
    level_target = dict(object_index=torch.tensor([0]))
    target = dict(
        labels=torch.tensor([1]), thing_masks=torch.zeros(1, *ENCODED))
    centers = torch.randn(T, 4, 4)
    kernel_map = torch.randn(C, 4, 4)
    features = torch.randn(CE, 16)
    _, weights = head._thing_predictions(centers, kernel_map, features,
                                         level_target, target)
    assert weights.tolist() == [[0.0] * K]
    loss = head.loss_segment(
        torch.randn(1, K, 16), torch.zeros(1, 16), weights, avg_factor=1)
    assert loss.item() == 0
