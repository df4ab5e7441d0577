"""How well a Panoptic FCN checkpoint's kernels segment the objects they
are generated for, on the config's test split.

    python .dev_scripts/analyze_fcn_kernel_masks.py CONFIG CHECKPOINT
        [--size-edges 16 24 32] [--work-dir DIR] [--cfg-options k=v ...]

For every ground-truth thing, the kernel at its centre cell on each kernel
level the training targets assign it to (the kernel training selects,
free of heatmap errors) generates a mask: sigmoid(kernel . F^e) upsampled
bilinearly to the input and thresholded at the config's ``mask_thr``, as
inference does. The best level's mask is compared with the object's mask:
IoU, area ratio, the distance between the two centroids (pixels) and the
share of the predicted mask's pixels that lie on other ground-truth things
of the same class and of other classes (where a mask that spills over
goes), by object size (sqrt of the mask area). The last column is the IoU the
ground truth itself keeps through the encoded feature's stride (its soft
training target at that stride, upsampled and thresholded the same way):
the mask quality the stride allows.

Everything is measured at the network input's scale: where the test
pipeline loads the annotations after its ``Resize`` (as the configs do, so
that PQ is computed on the original image), the tool loads them right
after the image instead, so that the resize scales them with the image;
object sizes are then in input pixels.

Example (the synthetic model; sizes for its 10-55 px objects)::

    python .dev_scripts/analyze_fcn_kernel_masks.py \\
        configs/panoptic_fcn/panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py \\
        work_dirs/panoptic-fcn_r18_fpn_1xb4-800i_synthetic/iter_800.pth \\
        --size-edges 16 24 32
"""
import argparse
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.runner import Runner, load_checkpoint
from torch import Tensor

from mmpanoptic.evaluation.functional import size_buckets
from mmpanoptic.utils import register_all_modules
from mmpanoptic.utils.config_path import (add_checkpoint_run_args,
                                          add_size_edges_arg,
                                          load_run_config)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Masks of the kernels at the ground-truth centres of a '
        'Panoptic FCN checkpoint, by object size')
    add_checkpoint_run_args(parser)
    add_size_edges_arg(parser)
    return parser.parse_args()


def annotations_before_resize(pipeline: List[dict]) -> List[dict]:
    """The pipeline with the annotation loading moved to right after the
    image loading, so that every later transform (resize, flip, pad)
    applies to the ground truth as to the image.

    Raises:
        ValueError: no ``LoadImageFromFile`` or no annotation loading step.
    """
    types = [str(step.get('type', '')) for step in pipeline]
    image = [i for i, t in enumerate(types) if t.endswith('LoadImageFromFile')]
    annotations = [
        i for i, t in enumerate(types) if t.endswith('LoadPanopticAnnotations')
    ]
    if not image or not annotations:
        raise ValueError('the test pipeline needs LoadImageFromFile and '
                         f'LoadPanopticAnnotations, got {types}')
    steps = [step for i, step in enumerate(pipeline) if i != annotations[0]]
    steps.insert(image[0] + 1, pipeline[annotations[0]])
    return steps


def mask_iou(masks: Tensor, targets: Tensor) -> Tensor:
    """IoU of paired bool masks. (K, H, W) x (K, H, W) -> (K,)."""
    inter = (masks & targets).flatten(1).sum(dim=1)
    union = (masks | targets).flatten(1).sum(dim=1)
    return inter.float() / union.clamp(min=1).float()


def centroids(masks: Tensor) -> Tensor:
    """(K, H, W) bool -> (K, 2) (row, col) mean positions (nan if empty)."""
    _, height, width = masks.shape
    weights = masks.float()
    area = weights.flatten(1).sum(dim=1)
    rows = torch.arange(height, dtype=torch.float32)
    cols = torch.arange(width, dtype=torch.float32)
    row = (weights.sum(dim=2) * rows).sum(dim=1) / area
    col = (weights.sum(dim=1) * cols).sum(dim=1) / area
    return torch.stack([row, col], dim=1)


@torch.no_grad()
def centre_kernel_masks(head, outputs: Tuple, data_sample,
                        input_size: Tuple[int, int],
                        mask_thr: float) -> Dict[str, Tensor]:
    """Masks of the kernels at the ground-truth centres of one image.

    Args:
        head (PanopticFCNHead): the head (its ``get_targets`` and thing
            kernel projection are used).
        outputs (tuple): the head's forward outputs for this one image.
        data_sample (DetDataSample): with ``gt_instances`` and
            ``gt_sem_seg`` padded to ``input_size``.
        input_size (tuple[int, int]): the batch input's (H, W).
        mask_thr (float): binarisation threshold of the probabilities.

    Returns:
        dict[str, Tensor]: per object, (K,) each: ``size`` (sqrt of the mask
        area), ``iou``, ``area_ratio`` (predicted / ground-truth area),
        ``centroid_distance`` (pixels; nan for an empty mask),
        ``predicted_area`` and the predicted pixels on other objects of the
        same class (``on_same_class``) and of other classes
        (``on_other_class``), all of the best assigned level's mask; and
        ``stride_iou`` (the ground truth through the encoded feature's
        stride).
    """
    center_logits, _, kernel_maps, encoded = outputs
    level_sizes = [tuple(c.shape[-2:]) for c in center_logits]
    encoded_size = tuple(encoded.shape[-2:])
    targets = head.get_targets(data_sample, input_size, level_sizes,
                               encoded_size)
    gt_masks = data_sample.gt_instances.masks
    if hasattr(gt_masks, 'to_tensor'):
        gt_masks = gt_masks.to_tensor(torch.bool, encoded.device)
    gt_masks = gt_masks.bool().view(-1, *input_size)
    num_objects = len(gt_masks)
    features = encoded[0].flatten(1)  # (C_e, P)

    def upsampled(probs: Tensor) -> Tensor:
        return F.interpolate(
            probs[:, None], size=input_size, mode='bilinear',
            align_corners=False)[:, 0] > mask_thr

    best_iou = torch.full((num_objects, ), -1.0)
    best_masks = torch.zeros_like(gt_masks)
    for level, level_target in enumerate(targets['levels']):
        index = level_target['object_index']
        if len(index) == 0:
            continue
        width = kernel_maps[level].shape[-1]
        cells = level_target['cells']
        positions = cells[:, 1] * width + cells[:, 0]
        kernels = head.thing_kernel_projection(
            kernel_maps[level][0].flatten(1)[:, positions].t())
        probs = (kernels @ features).sigmoid().view(-1, *encoded_size)
        masks = upsampled(probs)
        iou = mask_iou(masks, gt_masks[index]).cpu()
        better = iou > best_iou[index]
        best_iou[index[better]] = iou[better]
        best_masks[index[better]] = masks[better]
    gt_area = gt_masks.flatten(1).sum(dim=1).float()
    shift = centroids(best_masks) - centroids(gt_masks)
    # the other objects of each object's class and of the other classes
    labels = data_sample.gt_instances.labels.to(gt_masks.device)
    others = ~torch.eye(num_objects, dtype=torch.bool, device=labels.device)
    same_class = (labels[:, None] == labels[None]) & others
    gt_flat = gt_masks.flatten(1).float()
    predicted = best_masks.flatten(1)
    predicted_area = predicted.sum(dim=1).float()
    on_same_class = (predicted & (same_class.float() @ gt_flat > 0)).sum(1)
    on_other_class = (predicted &
                      ((others & ~same_class).float() @ gt_flat > 0)).sum(1)
    return dict(
        size=gt_area.sqrt(),
        iou=best_iou.clamp(min=0),
        area_ratio=predicted_area / gt_area,
        centroid_distance=shift.norm(dim=1),
        predicted_area=predicted_area,
        on_same_class=on_same_class.float(),
        on_other_class=on_other_class.float(),
        stride_iou=mask_iou(upsampled(targets['thing_masks']), gt_masks))


def summarise(stats: Dict[str, Tensor],
              size_edges: Sequence[float]) -> List[list]:
    """One row per size bucket and one for all: label, objects, mean IoU,
    share with IoU > 0.5 (%), median area ratio, mean centroid distance
    (over non-empty masks), the shares (%) of all predicted pixels that lie
    on other things of the same class and of other classes, mean stride
    IoU."""
    names, bucket = size_buckets(stats['size'].numpy(), size_edges)
    bucket = torch.from_numpy(bucket)
    rows = []
    for index, label in enumerate(names + ['all']):
        keep = bucket == index if label != 'all' else torch.ones_like(
            bucket, dtype=torch.bool)
        if not keep.any():
            rows.append([label, 0] + ['-'] * 7)
            continue
        iou = stats['iou'][keep]
        distance = stats['centroid_distance'][keep]
        distance = distance[~distance.isnan()]
        predicted_area = stats['predicted_area'][keep].sum()

        def share(key: str) -> str:
            if predicted_area == 0:
                return '-'
            return f'{100 * stats[key][keep].sum() / predicted_area:.1f}'

        rows.append([
            label,
            int(keep.sum()),
            f'{iou.mean():.3f}',
            f'{100 * (iou > 0.5).float().mean():.1f}',
            f'{stats["area_ratio"][keep].quantile(0.5):.2f}',
            f'{distance.mean():.2f}' if len(distance) else '-',
            share('on_same_class'),
            share('on_other_class'),
            f'{stats["stride_iou"][keep].mean():.3f}',
        ])
    return rows


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_run_config(args.config, args.cfg_options, 'none',
                          args.work_dir)
    dataset_cfg = cfg.test_dataloader.dataset
    try:
        dataset_cfg.pipeline = annotations_before_resize(dataset_cfg.pipeline)
    except ValueError as error:
        raise ValueError(f'{args.config}: {error}') from None
    runner = Runner.from_cfg(cfg)
    model = runner.model
    if not hasattr(model, 'panoptic_head') or not hasattr(
            model.panoptic_head, 'thing_kernel_projection'):
        raise ValueError(f'{args.config}: not a Panoptic FCN model '
                         f'({type(model).__name__})')
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    head = model.panoptic_head
    collected = []
    with torch.no_grad():
        for data in runner.test_dataloader:
            # training=True only pads the ground truth to the batch input
            batch = model.data_preprocessor(data, True)
            inputs = batch['inputs']
            outputs = head(model.extract_feat(inputs))
            for i, sample in enumerate(batch['data_samples']):
                one = tuple([level[i:i + 1] for level in part]
                            for part in outputs[:3]) + (
                                outputs[3][i:i + 1], )
                collected.append(
                    centre_kernel_masks(head, one, sample,
                                        tuple(inputs.shape[-2:]),
                                        head.test_cfg['mask_thr']))
    stats = {
        key: torch.cat([c[key].cpu() for c in collected])
        for key in collected[0]
    }
    header = ['size (sqrt area)', 'GT things', 'mean IoU', 'IoU > 0.5 %',
              'area ratio (median)', 'centroid distance px',
              'on same-class things %', 'on other-class things %',
              'stride IoU']
    print('Masks of the kernels at the ground-truth centres:')
    print(' | '.join(header))
    for row in summarise(stats, args.size_edges):
        print(' | '.join(str(value) for value in row))


if __name__ == '__main__':
    main()
