"""Panoptic FCN in exportable form: its traceable parts equal the model's
functions, and graph + composition equal ``PanopticFCN.predict`` (so that a
change of the head that the graph does not follow fails here)."""
import copy

import pytest
import torch

from mmpanoptic.deployment import PanopticFCNComposer, PanopticFCNGraph
from mmpanoptic.deployment.panoptic_fcn import (fuse_thing_kernels_traceable,
                                                peak_candidates)
from mmpanoptic.models.panoptic_fcn.kernel_fusion import fuse_thing_kernels
from mmpanoptic.models.panoptic_fcn.postprocessing import thing_candidates

from .synthetic_models import random_fcn_model, sample

LOW = -20.0  # sigmoid ~ 2e-9


def test_peak_candidates_by_hand_and_with_fewer_scores_than_top_k():
    logits = torch.full((2, 2, 3), LOW)
    logits[0, 0, 0] = 2.0  # peak, p = 0.88
    logits[0, 0, 1] = 1.0  # neighbour of the peak: not a peak
    logits[1, 1, 2] = 0.0  # peak, p = 0.5
    kernel_map = torch.arange(4 * 6, dtype=torch.float32).view(4, 2, 3)
    # 12 scores, top_k 50: thing_candidates takes min(50, 12)
    kernels, labels, scores = peak_candidates(logits, kernel_map, 50, 0.05, 1)
    assert labels.tolist() == [0, 1]
    assert scores.tolist() == pytest.approx(
        [torch.tensor(2.).sigmoid().item(), 0.5])
    assert kernels.tolist() == [
        kernel_map[:, 0, 0].tolist(), kernel_map[:, 1, 2].tolist()
    ]
    torch.manual_seed(0)
    for shape, smooth, top_k in (((4, 5, 7), 3, 50), ((3, 2, 2), 5, 50),
                                 ((4, 9, 9), 3, 5)):
        logits = torch.randn(shape) * 3
        kernel_map = torch.randn(6, *shape[1:])
        got = peak_candidates(logits, kernel_map, top_k, 0.05, smooth)
        expected = thing_candidates(logits, kernel_map, top_k, 0.05, smooth)
        for a, b in zip(got, expected):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match='center_score_thr'):
        peak_candidates(logits, kernel_map, 5, -0.1, 3)


@pytest.mark.parametrize('class_aware', [True, False])
def test_traceable_kernel_fusion_equals_fuse_thing_kernels(class_aware):
    torch.manual_seed(0)
    base = torch.randn(6, 16)
    # near-duplicates of some kernels, other classes for some
    kernels = torch.cat([base, base[:4] + 0.05 * torch.randn(4, 16)])
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 0, 0])
    scores = torch.rand(10)
    got = fuse_thing_kernels_traceable(kernels, labels, scores, 0.9,
                                       class_aware)
    expected = fuse_thing_kernels(kernels, labels, scores, 0.9, class_aware)
    assert len(expected[0]) < 10  # some kernels merged
    for a, b in zip(got, expected):
        assert torch.allclose(a.float(), b.float())
    empty = fuse_thing_kernels_traceable(
        torch.zeros(0, 16), torch.zeros(0, dtype=torch.long), torch.zeros(0),
        0.9, class_aware)
    assert [tuple(t.shape) for t in empty] == [(0, 16), (0, ), (0, )]


@pytest.fixture(scope='module')
def fcn_model():
    return random_fcn_model()


@pytest.mark.parametrize('batch_shape, img_shape, ori_shape', [
    ((96, 128), (96, 120), (96, 120)),
    ((64, 96), (60, 90), (80, 120)),
])
def test_graph_and_composer_equal_predict(fcn_model, batch_shape, img_shape,
                                          ori_shape):
    torch.manual_seed(1)
    image = torch.randn(1, 3, *batch_shape)
    data_sample = sample(batch_shape, img_shape, ori_shape)
    with torch.no_grad():
        expected = fcn_model.predict(image, [copy.deepcopy(data_sample)])[0]
        outputs = PanopticFCNGraph(fcn_model)(image)
    head = fcn_model.panoptic_head
    result = PanopticFCNComposer(head.num_things_classes,
                                 head.num_stuff_classes,
                                 head.test_cfg)(*outputs, data_sample.metainfo)
    panoptic = expected.pred_panoptic_seg.sem_seg
    assert panoptic.shape[-2:] == ori_shape
    # things, stuff and VOID: the comparison is not vacuous
    labels = panoptic % 1000
    assert len(torch.unique(panoptic[panoptic >= 1000])) >= 1
    assert ((labels >= 4) & (labels < 8)).any() and (labels == 8).any()
    assert torch.equal(result['pan_results'].sem_seg, panoptic)
    assert torch.equal(result['sem_results'].sem_seg,
                       expected.pred_sem_seg.sem_seg)
    for key in ('masks', 'labels', 'scores', 'bboxes'):
        assert torch.equal(result['ins_results'][key],
                           expected.pred_instances[key]), key


def test_graph_takes_one_image_and_composer_checks_its_cfg(fcn_model):
    with pytest.raises(ValueError, match='one image'):
        PanopticFCNGraph(fcn_model)(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match='mask_thr'):
        PanopticFCNComposer(4, 4, dict(overlap_thr=0.5))
