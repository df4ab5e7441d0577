"""Panoptic FCN detector and head: loss and predict on CPU, inference with
no peaks / only stuff / only things on hand-made head outputs."""
import numpy as np
import pytest
import torch
from mmcv.ops import ModulatedDeformConv2dPack
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData, PixelData

from mmpanoptic.registry import MODELS
import mmpanoptic.models  # noqa: F401
from mmpanoptic.utils.config_path import find_config

init_default_scope('mmpanoptic')


def make_sample(size,
                num_things_classes,
                num_stuff_classes,
                ori_shape=None,
                seed=0):
    """Squares of things on two stuff halves, 255 on the top rows."""
    h, w = size
    rng = np.random.default_rng(seed)
    sem = np.full((h, w), num_things_classes, dtype=np.int64)
    sem[h // 2:] = num_things_classes + num_stuff_classes - 1
    sem[:2] = 255
    masks, labels, boxes = [], [], []
    for side in (h // 8, h // 3):
        y, x = rng.integers(2, h - side), rng.integers(0, w - side)
        label = int(rng.integers(0, num_things_classes))
        mask = np.zeros((h, w), np.uint8)
        mask[y:y + side, x:x + side] = 1
        masks.append(mask)
        labels.append(label)
        boxes.append([x, y, x + side, y + side])
        sem[mask.astype(bool)] = label
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=ori_shape or (h, w),
            batch_input_shape=(h, w),
            pad_shape=(h, w),
            scale_factor=(1.0, 1.0)))
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(np.stack(masks), h, w),
        labels=torch.tensor(labels),
        bboxes=torch.tensor(boxes, dtype=torch.float32))
    sample.gt_sem_seg = PixelData(sem_seg=torch.from_numpy(sem)[None])
    return sample


def build_model(config, **head_overrides):
    cfg = Config.fromfile(find_config(config))
    cfg.model.backbone.init_cfg = None  # nothing is downloaded
    cfg.model.panoptic_head.update(head_overrides)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg


def check_loss_and_predict(model, samples, inputs, num_classes):
    torch.manual_seed(0)
    model.train()
    losses = model.loss(inputs, samples)
    assert set(losses) == {
        'loss_pos_things', 'loss_pos_stuff', 'loss_seg_things',
        'loss_seg_stuff'
    }
    for name, value in losses.items():
        assert torch.isfinite(value) and value > 0, name
    sum(losses.values()).backward()
    head = model.panoptic_head
    for module in (head.position_head, head.kernel_head, head.feature_encoder,
                   head.semantic_fpn, head.thing_kernel_projection,
                   head.stuff_kernel_projection, model.backbone):
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        results = model.predict(inputs, samples, rescale=True)
    for sample in results:
        ori_h, ori_w = sample.ori_shape
        pan = sample.pred_panoptic_seg.sem_seg
        assert pan.shape == (1, ori_h, ori_w)
        labels = pan % INSTANCE_OFFSET
        assert ((labels >= 0) & (labels <= num_classes)).all()
        sem = sample.pred_sem_seg.sem_seg
        assert sem.shape == (1, ori_h, ori_w)
        assert ((sem >= 0) & (sem < num_classes)).all()  # dense labels
        instances = sample.pred_instances
        assert instances.masks.shape[1:] == (ori_h, ori_w)
        assert len(instances) <= model.panoptic_head.test_cfg['max_things']
        assert instances.bboxes.shape == (len(instances), 4)


def test_synthetic_config_loss_and_predict():
    model, _ = build_model('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py')
    samples = [make_sample((128, 128), 4, 4, seed=s) for s in range(2)]
    inputs = torch.randn(2, 3, 128, 128)
    check_loss_and_predict(model, samples, inputs, 8)


def test_coco_config_loss_and_predict_tiny_input():
    # full R50-FPN + deformable position head, 80 things / 53 stuff, 64 px
    model, cfg = build_model('panoptic-fcn_r50_fpn_8xb2-90k_coco.py')
    assert cfg.model.panoptic_head.position_head.deformable
    samples = [
        make_sample((64, 64), 80, 53, ori_shape=(96, 80), seed=3),
        make_sample((64, 64), 80, 53, seed=4)
    ]
    inputs = torch.randn(2, 3, 64, 64)
    check_loss_and_predict(model, samples, inputs, 133)
    assert samples[0].pred_panoptic_seg.sem_seg.shape == (1, 96, 80)


def test_encoder_upsampling_gives_stride_two_masks():
    # FeatureEncoder(upsample_ratio=2): the convs see F^h upsampled
    # bilinearly, and targets, losses and inference follow the finer stride
    from mmpanoptic.models.panoptic_fcn import FeatureEncoder
    torch.manual_seed(0)
    encoder = FeatureEncoder(
        in_channels=4, channels=3, num_convs=1, upsample_ratio=2)
    plain = FeatureEncoder(in_channels=4, channels=3, num_convs=1)
    plain.load_state_dict(encoder.state_dict())
    high_res = torch.randn(1, 4, 5, 6)
    upsampled = torch.nn.functional.interpolate(
        high_res, size=(10, 12), mode='bilinear', align_corners=False)
    assert torch.allclose(encoder(high_res), plain(upsampled))
    with pytest.raises(ValueError, match='positive integer'):
        FeatureEncoder(in_channels=4, upsample_ratio=1.5)

    model, _ = build_model(
        'panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py',
        feature_encoder=dict(channels=64, num_convs=3, upsample_ratio=2))
    inputs = torch.randn(2, 3, 64, 64)
    assert model.panoptic_head(
        model.extract_feat(inputs))[3].shape[-2:] == (32, 32)
    samples = [make_sample((64, 64), 4, 4, seed=s) for s in range(2)]
    check_loss_and_predict(model, samples, inputs, 8)


def test_loss_without_things():
    model, _ = build_model('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py')
    sample = make_sample((64, 64), 4, 4)
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(np.zeros((0, 64, 64), np.uint8), 64, 64),
        labels=torch.zeros(0, dtype=torch.long),
        bboxes=torch.zeros(0, 4))
    sample.gt_sem_seg.sem_seg[sample.gt_sem_seg.sem_seg < 4] = 4
    losses = model.loss(torch.randn(1, 3, 64, 64), [sample])
    assert losses['loss_seg_things'].item() == 0
    assert losses['loss_pos_things'].item() > 0  # all-negative heatmaps
    assert losses['loss_seg_stuff'].item() > 0


def test_bad_sem_seg_shape_is_reported():
    model, _ = build_model('panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py')
    sample = make_sample((64, 64), 4, 4)
    sample.gt_sem_seg = PixelData(sem_seg=torch.zeros(1, 32, 32).long())
    with pytest.raises(ValueError, match='batch input shape'):
        model.loss(torch.randn(1, 3, 64, 64), [sample])


# ------------------------------------------------ hand-made head outputs
C = 8  # kernel and encoded channels
T, S = 2, 2
LOW = -20.0


def tiny_head():
    head = MODELS.build(
        dict(
            type='PanopticFCNHead',
            num_things_classes=T,
            num_stuff_classes=S,
            in_channels=16,
            position_head=dict(
                channels=16,
                num_convs=1,
                deformable=False,
                norm_cfg=dict(type='GN', num_groups=4)),
            kernel_head=dict(
                channels=C,
                num_convs=1,
                norm_cfg=dict(type='GN', num_groups=4)),
            semantic_fpn=dict(
                channels=16, norm_cfg=dict(type='GN', num_groups=4)),
            feature_encoder=dict(channels=C, num_convs=1),
            test_cfg=dict(stuff_area_limit=1)))
    with torch.no_grad():  # projections = identity: kernels used as given
        for proj in (head.thing_kernel_projection,
                     head.stuff_kernel_projection):
            proj.weight.copy_(torch.eye(C))
            proj.bias.zero_()
    head.eval()
    return head


def empty_outputs():
    sizes = [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    centers = [torch.full((1, T, *s), LOW) for s in sizes]
    stuff = [torch.full((1, S + 1, *s), LOW) for s in sizes]
    kernels = [torch.zeros(1, C, *s) for s in sizes]
    encoded = torch.zeros(1, C, 8, 8)
    return centers, stuff, kernels, encoded


META = dict(img_shape=(32, 32), ori_shape=(32, 32), batch_input_shape=(32, 32))


def test_inference_without_peaks_or_stuff_is_all_void():
    head = tiny_head()
    result = head.predict_by_feat(*empty_outputs(), [META])[0]
    assert (result['pan_results'].sem_seg == T + S).all()
    # dense semantic output: the first stuff class when nothing is known
    assert (result['sem_results'].sem_seg == T).all()
    assert len(result['ins_results']) == 0


def test_inference_with_only_stuff():
    head = tiny_head()
    centers, stuff, kernels, encoded = empty_outputs()
    e0, e1 = torch.eye(C)[0], torch.eye(C)[1]
    # P3 stuff map: class 0 on the top half, class 1 on the bottom half
    stuff[0][0, 0, :2] = 3.0
    stuff[0][0, 1, 2:] = 3.0
    kernels[0][0, :, :2] = 10 * e0[:, None, None]
    kernels[0][0, :, 2:] = 10 * e1[:, None, None]
    encoded[0, :, :4] = e0[:, None, None]
    encoded[0, :, 4:] = e1[:, None, None]
    result = head.predict_by_feat(centers, stuff, kernels, encoded, [META])[0]
    pan = result['pan_results'].sem_seg[0]
    assert (pan[:16] == T + 0).all() and (pan[16:] == T + 1).all()
    assert torch.equal(result['sem_results'].sem_seg[0], pan)
    assert len(result['ins_results']) == 0


def test_inference_with_only_things_fuses_duplicates_across_levels():
    head = tiny_head()
    centers, stuff, kernels, encoded = empty_outputs()
    e0 = torch.eye(C)[0]
    # the same object found on P3 (cell (1, 1)) and P4 (cell (0, 0))
    centers[0][0, 1, 1, 1] = 5.0
    centers[1][0, 1, 0, 0] = 4.0
    kernels[0][0, :, 1, 1] = 10 * e0
    kernels[1][0, :, 0, 0] = 9 * e0  # cosine 1 with the P3 kernel
    encoded[0] = -e0[:, None, None]
    encoded[0, :, 1:4, 2:6] = e0[:, None, None]  # the object at 1/4
    result = head.predict_by_feat(centers, stuff, kernels, encoded, [META])[0]
    instances = result['ins_results']
    assert len(instances) == 1  # kernel fusion merged the two
    assert instances.labels.tolist() == [1]
    expected = torch.zeros(32, 32, dtype=torch.bool)
    expected[4:16, 8:24] = True
    mask = instances.masks[0]
    # bilinear upsampling: the border may move by up to 2 px
    assert (mask & expected).sum() >= 0.8 * expected.sum()
    assert (mask & ~expected).sum() <= 0.3 * expected.sum()
    assert instances.scores[0] > 0.2
    pan = result['pan_results'].sem_seg[0]
    assert set(pan.unique().tolist()) == {1 + INSTANCE_OFFSET, T + S}
    assert torch.equal(pan == 1 + INSTANCE_OFFSET, mask)
    # a fusion threshold above 1 keeps both (they are then overlapping)
    head.test_cfg['similarity_thr'] = 1.01
    result = head.predict_by_feat(centers, stuff, kernels, encoded, [META])[0]
    assert len(result['ins_results']) == 2


@pytest.mark.parametrize('config', [
    'panoptic-fcn_r50_fpn_8xb2-90k_coco.py',
    'panoptic-fcn_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-400_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-512_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-600_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn-star_r50_fpn_8xb2-270k_coco.py',
    'panoptic-fcn_r50_fpn_8xb4-65k_cityscapes.py',
    'panoptic-fcn_r18_fpn_1xb4-800i_synthetic.py'
])
def test_configs_build(config):
    cfg = Config.fromfile(find_config(config))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    head = model.panoptic_head
    assert len(head.instance_scales) == len(head.kernel_levels) == 5
    assert cfg.model.neck.num_outs == 6  # P2..P7
    if 'cityscapes' in config:
        assert (head.num_things_classes, head.num_stuff_classes) == (8, 11)
        assert head.instance_scales[0] == (1, 128)
        assert head.test_cfg['similarity_thr'] == 0.95
        assert head.test_cfg['max_things'] == 200
        assert head.test_cfg['mask_thr'] == 0.5
        assert head.loss_segment.loss_weight == 4.0
    if 'star' in config:
        # mmcv's DCNv2 (same parameters), computed by grid-sample on CPU
        assert isinstance(head.feature_encoder.convs[0].conv,
                          ModulatedDeformConv2dPack)
        assert head.thing_kernel_projection.out_features == 256


def test_targets_treat_void_and_crowd_as_negatives():
    """As the official code: crowd regions (thing pixels without an
    instance) are heatmap negatives and "all things" stuff; VOID pixels are
    0 in every stuff channel."""
    head = tiny_head()
    h = w = 32
    sem = torch.full((h, w), T, dtype=torch.long)  # stuff 0
    sem[:, 16:] = T + 1  # stuff 1
    sem[:8, :8] = 255  # VOID block
    sem[24:, 24:] = 0  # crowd of class 0: thing label, no instance mask
    mask = np.zeros((1, h, w), np.uint8)
    mask[0, 8:16, 16:24] = 1
    sem[8:16, 16:24] = 1
    sample = DetDataSample(metainfo=dict(batch_input_shape=(h, w)))
    sample.gt_instances = InstanceData(
        masks=BitmapMasks(mask, h, w),
        labels=torch.tensor([1]),
        bboxes=torch.tensor([[16., 8., 24., 16.]]))
    sample.gt_sem_seg = PixelData(sem_seg=sem[None])
    level_sizes = [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    targets = head.get_targets(sample, (h, w), level_sizes, (8, 8))
    assert set(targets) == {'levels', 'labels', 'thing_masks', 'stuff'}
    # 1/4: the VOID block (cells [:2, :2]) is 0 in every stuff channel
    assert targets['stuff'][:, :2, :2].sum() == 0
    assert targets['stuff'][:, 2:, :].sum(dim=0).eq(1).all()
    p3 = targets['levels'][0]
    assert set(p3) == {'heatmap', 'object_index', 'cells', 'stuff'}
    assert p3['object_index'].tolist() == [0]
    assert p3['cells'].tolist() == [[2, 1]]  # centre (20, 12) / 8
    assert p3['heatmap'][1, 1, 2] == 1
    # the crowd block (cell [3, 3] on P3): no heatmap peak, "things" stuff
    assert p3['heatmap'][:, 3, 3].sum() == 0
    assert p3['stuff'][S, 3, 3] == 1 and p3['stuff'][S, 1, 2] == 1
    assert p3['stuff'][:, 0, 0].sum() == 0  # VOID cell
    assert p3['stuff'][0, 2, 0] == 1 and p3['stuff'][1, 2, 3] == 1
    # thing mask target at 1/4
    assert targets['thing_masks'][0, 2:4, 4:6].eq(1).all()
    assert targets['thing_masks'][0].sum() == 4


def test_stuff_label_maps_things_channel_and_dense_fallback():
    head = tiny_head()
    probs = torch.tensor([
        [[0.9, 0.1, 0.2]],  # stuff 0
        [[0.5, 0.6, 0.3]],  # stuff 1
        [[0.1, 0.7, 0.8]]
    ])  # "all things" (channel S)
    labels, best = head._stuff_label_maps(probs, torch.tensor([0, 1, S]),
                                          (1, 3), (1, 3), 1)
    assert labels.tolist() == [[T, -1, -1]]
    assert best.tolist() == [[T, T + 1, T + 1]]
    labels, best = head._stuff_label_maps(probs[:2], torch.tensor([0, 1]),
                                          (1, 3), (1, 3), 1)
    assert labels.tolist() == best.tolist() == [[T, T + 1, T + 1]]
    labels, best = head._stuff_label_maps(probs[2:], torch.tensor([S]), (1, 3),
                                          (1, 3), 1)
    assert labels.tolist() == [[-1, -1, -1]] and best.tolist() == [[T] * 3]


def test_stuff_kernel_average_image_or_region():
    """A 2-pixel region of a 4-pixel map: the official code's pool (the
    default) divides the kernel sum by 4, the region average by 2; the head
    checks the option."""
    from mmpanoptic.models.panoptic_fcn.postprocessing import \
        stuff_candidates
    stuff_logits = torch.tensor([[[5., 5.], [-5., -5.]], [[-5., -5.], [5.,
                                                                       5.]]])
    kernel_map = torch.tensor([[[2., 4.], [6., 8.]]])  # (C=1, 2, 2)
    kernels, labels, _ = stuff_candidates(stuff_logits, kernel_map, 0.05)
    assert labels.tolist() == [0, 1]
    assert kernels.flatten().tolist() == [1.5, 3.5]
    kernels, _, _ = stuff_candidates(
        stuff_logits, kernel_map, 0.05, kernel_average='region')
    assert kernels.flatten().tolist() == [3., 7.]
    assert tiny_head().stuff_kernel_average == 'image'
    with pytest.raises(ValueError, match='stuff_kernel_average'):
        MODELS.build(
            dict(
                type='PanopticFCNHead',
                num_things_classes=T,
                num_stuff_classes=S,
                stuff_kernel_average='mean'))
