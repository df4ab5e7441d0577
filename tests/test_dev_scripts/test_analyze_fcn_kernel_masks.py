""".dev_scripts/analyze_fcn_kernel_masks.py: masks of the kernels at
the ground-truth centres, on hand-made head outputs with known answers, and
the command end to end on tiny synthetic data."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.registry import MODELS
from mmpanoptic.utils import register_all_modules

from ..conftest import REPO_ROOT, load_script, tiny_synthetic_cli_options

TOOL = '.dev_scripts/analyze_fcn_kernel_masks.py'
SIZE = 32


def tiny_head(num_things_classes=1):
    register_all_modules()
    head = MODELS.build(
        dict(
            type='PanopticFCNHead',
            num_things_classes=num_things_classes,
            num_stuff_classes=1,
            in_channels=8,
            kernel_levels=(0, ),
            instance_scales=((1, 64), ),
            position_head=dict(
                channels=8,
                num_convs=1,
                deformable=False,
                norm_cfg=dict(type='GN', num_groups=2)),
            kernel_head=dict(
                channels=2,
                num_convs=1,
                norm_cfg=dict(type='GN', num_groups=1)),
            semantic_fpn=dict(
                channels=8, norm_cfg=dict(type='GN', num_groups=2)),
            feature_encoder=dict(channels=2, num_convs=1),
            test_cfg=dict(smooth_kernel_sizes=(3, ))))
    with torch.no_grad():  # projection = identity
        head.thing_kernel_projection.weight.copy_(torch.eye(2))
        head.thing_kernel_projection.bias.zero_()
    return head.eval()


def sample_with_squares(boxes, labels=None, num_things_classes=1):
    labels = [0] * len(boxes) if labels is None else labels
    masks = np.zeros((len(boxes), SIZE, SIZE), np.uint8)
    # stuff everywhere
    sem = torch.full((SIZE, SIZE), num_things_classes, dtype=torch.long)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1:y2, x1:x2] = 1
        sem[y1:y2, x1:x2] = labels[i]
    sample = DetDataSample(
        metainfo=dict(img_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE)))
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(masks, SIZE, SIZE),
        labels=torch.tensor(labels, dtype=torch.long),
        bboxes=torch.tensor(boxes, dtype=torch.float32))
    sample.gt_sem_seg = PixelData(sem_seg=sem[None])
    return sample


def test_kernels_that_draw_the_object_and_one_that_draws_nothing():
    tool = load_script(TOOL)
    head = tiny_head()
    # squares on the stride-4 grid: the first (8..20) is drawn exactly by
    # the kernel at its centre cell, the second (0..8) by a kernel that
    # draws nothing
    sample = sample_with_squares([(8, 8, 20, 20), (0, 0, 8, 8)])
    encoded = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
    encoded[0, 0, 2:5, 2:5] = 1  # "inside the first square"
    encoded[0, 1] = 1  # constant
    level_size = (SIZE // 8, SIZE // 8)  # one kernel level at stride 8
    kernel_map = torch.zeros(1, 2, *level_size)
    kernel_map[0, :, 1, 1] = torch.tensor([40.0, -20.0])  # first centre
    kernel_map[0, :, 0, 0] = torch.tensor([0.0, -20.0])  # second centre
    outputs = ([torch.zeros(1, 1, *level_size)],
               [torch.zeros(1, 2, *level_size)], [kernel_map], encoded)
    stats = tool.centre_kernel_masks(head, outputs, sample, (SIZE, SIZE), 0.4)
    assert torch.allclose(stats['size'], torch.tensor([12.0, 8.0]))
    # bilinear upsampling keeps each straight edge where it is (0.625 on
    # the pixel inside, 0.375 outside) but a corner pixel inside the image
    # gets 0.625 ** 2 < 0.4: the first square loses its 4 corners
    assert torch.allclose(stats['iou'], torch.tensor([140 / 144, 0.0]))
    assert torch.allclose(stats['area_ratio'], torch.tensor([140 / 144, 0.0]))
    assert stats['centroid_distance'][0] == 0  # symmetric loss
    assert stats['centroid_distance'][1].isnan()  # empty mask
    # through the stride, the ground truth loses the same corners (the
    # second square only its one corner inside the image)
    assert torch.allclose(stats['stride_iou'],
                          torch.tensor([140 / 144, 63 / 64]))

    assert stats['predicted_area'].tolist() == [140, 0]
    assert stats['on_same_class'].tolist() == [0, 0]
    assert stats['on_other_class'].tolist() == [0, 0]

    rows = tool.summarise(stats, [10])
    assert rows == [
        ['< 10', 1, '0.000', '0.0', '0.00', '-', '-', '-', '0.984'],
        ['>= 10', 1, '0.972', '100.0', '0.97', '0.00', '0.0', '0.0', '0.972'],
        ['all', 2, '0.486', '50.0', '0.49', '0.00', '0.0', '0.0', '0.978']
    ]


@pytest.mark.parametrize('neighbour_label', [0, 1])
def test_mask_spilling_onto_a_neighbour_of_the_same_or_another_class(
        neighbour_label):
    tool = load_script(TOOL)
    head = tiny_head(num_things_classes=2)
    # square A (label 0) at 8..20 and its neighbour B at x 20..28; the
    # kernel at A's centre draws A and B's first column of cells (x 20..24)
    sample = sample_with_squares([(8, 8, 20, 20), (20, 8, 28, 20)],
                                 labels=[0, neighbour_label],
                                 num_things_classes=2)
    encoded = torch.zeros(1, 2, SIZE // 4, SIZE // 4)
    encoded[0, 0, 2:5, 2:6] = 1
    encoded[0, 1] = 1
    level_size = (SIZE // 8, SIZE // 8)
    kernel_map = torch.zeros(1, 2, *level_size)
    kernel_map[0, :, 1, 1] = torch.tensor([40.0, -20.0])  # A's centre
    kernel_map[0, :, 1, 3] = torch.tensor([0.0, -20.0])  # B's: nothing
    outputs = ([torch.zeros(1, 2, *level_size)],
               [torch.zeros(1, 2, *level_size)], [kernel_map], encoded)
    stats = tool.centre_kernel_masks(head, outputs, sample, (SIZE, SIZE), 0.4)
    # A's mask: rows 8..20 x cols 8..24 less its 4 corner pixels, two of
    # which, (8, 23) and (19, 23), are in B: 46 of its pixels lie on B
    assert stats['predicted_area'].tolist() == [188, 0]
    assert torch.allclose(stats['iou'], torch.tensor([142 / 190, 0.0]))
    on_b = [46, 0]
    zero = [0, 0]
    assert stats['on_same_class'].tolist() == (
        on_b if neighbour_label == 0 else zero)
    assert stats['on_other_class'].tolist() == (
        zero if neighbour_label == 0 else on_b)
    rows = tool.summarise(stats, [10])
    share = f'{100 * 46 / 188:.1f}'
    assert rows[-1][6:8] == ([share, '0.0']
                             if neighbour_label == 0 else ['0.0', share])


def test_command_on_tiny_synthetic_data(tmp_path):
    config = 'configs/panoptic_fcn/panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py'
    options = tiny_synthetic_cli_options(str(tmp_path / 'data') + '/')
    register_all_modules()
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    cfg = Config.fromfile(REPO_ROOT + '/' + config)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp_path / 'random.pth')
    save_checkpoint(model.state_dict(), checkpoint)
    result = subprocess.run([
        sys.executable, TOOL, config, checkpoint, '--size-edges', '16',
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    start = lines.index('Masks of the kernels at the ground-truth centres:')
    table = [line.split(' | ') for line in lines[start + 2:]]
    assert [row[0] for row in table] == ['< 16', '>= 16', 'all']
    counts = [int(row[1]) for row in table]
    assert counts[2] == counts[0] + counts[1] > 0


def test_annotations_are_loaded_before_the_resize():
    tool = load_script(TOOL)
    image = dict(type='LoadImageFromFile')
    resize = dict(type='Resize', scale_factor=2.0, keep_ratio=True)
    annotations = dict(type='LoadPanopticAnnotations')
    pack = dict(type='PackDetInputs')
    expected = [image, annotations, resize, pack]
    assert tool.annotations_before_resize([image, resize, annotations,
                                           pack]) == expected
    assert tool.annotations_before_resize(expected) == expected
    with pytest.raises(ValueError, match='LoadPanopticAnnotations'):
        tool.annotations_before_resize([image, resize, pack])


def test_ground_truth_at_the_input_scale_of_a_resizing_config(tmp_path):
    """With a 2x test resize, the reordered pipeline gives masks and the
    semantic map of the resized image's size (the configs' own order
    gives them at the original size, which the tool must not use)."""
    from mmengine.config import Config
    from mmengine.registry import DATASETS
    register_all_modules()
    tool = load_script(TOOL)
    cfg = Config.fromfile(
        REPO_ROOT +
        '/configs/panoptic_fcn/panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py')
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = str(tmp_path / 'data') + '/'
    dataset_cfg.generator = dict(
        splits=dict(train=1, val=1), height=48, width=48, seed=0)
    for step in dataset_cfg.pipeline:
        if step['type'] == 'Resize':
            step['scale_factor'] = 2.0
    original = DATASETS.build(dataset_cfg)[0]['data_samples']
    assert original.gt_instances.masks.height == 48
    dataset_cfg.pipeline = tool.annotations_before_resize(dataset_cfg.pipeline)
    item = DATASETS.build(dataset_cfg)[0]
    sample = item['data_samples']
    assert tuple(item['inputs'].shape[-2:]) == (96, 96)
    assert sample.gt_instances.masks.height == 96
    assert sample.gt_instances.masks.width == 96
    assert tuple(sample.gt_sem_seg.sem_seg.shape[-2:]) == (96, 96)
