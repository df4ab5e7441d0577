"""Kernel fusion (paper Sec. 3.2, eq. (4))."""
import pytest
import torch

from mmpanoptic.models.panoptic_fcn.kernel_fusion import (
    cosine_similarity_matrix, fuse_stuff_kernels, fuse_thing_kernels)


def test_cosine_similarity_matrix():
    kernels = torch.tensor([[1., 0.], [0., 2.], [3., 3.]])
    sim = cosine_similarity_matrix(kernels)
    assert sim[0, 1].item() == pytest.approx(0.0)
    assert sim[0, 2].item() == pytest.approx(2**-0.5)
    assert sim.diagonal().tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_near_duplicates_merge_and_distinct_objects_stay_apart():
    a = torch.tensor([1.0, 0.0, 0.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0, 0.0])
    near_a = torch.tensor([1.0, 0.1, 0.0, 0.0])  # cos 0.995 with a
    kernels = torch.stack([near_a, b, a])
    labels = torch.tensor([3, 3, 3])
    scores = torch.tensor([0.5, 0.7, 0.9])
    fused, fused_labels, fused_scores = fuse_thing_kernels(
        kernels, labels, scores, similarity_thr=0.9)
    # two objects, in score order: a (merged with near_a), then b
    assert fused_scores.tolist() == pytest.approx([0.9, 0.7])
    assert fused_labels.tolist() == [3, 3]
    assert fused[0].tolist() == pytest.approx(((a + near_a) / 2).tolist())
    assert fused[1].tolist() == pytest.approx(b.tolist())
    # a threshold above their similarity keeps all three
    fused, _, _ = fuse_thing_kernels(kernels, labels, scores, 0.999)
    assert len(fused) == 3
    # even above 1 (nothing similar, not even a kernel to itself)
    fused, _, fused_scores = fuse_thing_kernels(kernels, labels, scores, 1.5)
    assert fused_scores.tolist() == pytest.approx([0.9, 0.7, 0.5])
    assert fused[2].tolist() == pytest.approx(near_a.tolist())


def test_class_aware_fusion_keeps_different_classes_apart():
    kernels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.01]])
    labels = torch.tensor([0, 1, 0])
    scores = torch.tensor([0.9, 0.8, 0.3])
    fused, fused_labels, fused_scores = fuse_thing_kernels(
        kernels, labels, scores, 0.9, class_aware=True)
    assert fused_labels.tolist() == [0, 1]
    assert fused_scores.tolist() == pytest.approx([0.9, 0.8])
    assert fused[0].tolist() == pytest.approx([1.0, 0.005])
    # class-agnostic fusion merges the identical kernel of class 1 too
    fused, fused_labels, _ = fuse_thing_kernels(
        kernels, labels, scores, 0.9, class_aware=False)
    assert fused_labels.tolist() == [0]
    assert fused[0].tolist() == pytest.approx([1.0, 0.01 / 3])


def test_chained_kernel_is_dropped_like_the_official_code():
    # 0 ~ 1 and 1 ~ 2 but 0 !~ 2: 2's first similar kernel (1) is absorbed
    kernels = torch.tensor([[1.0, 0.0], [0.95, 0.31], [0.81, 0.59]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    sim = cosine_similarity_matrix(kernels)
    assert sim[0, 1] > 0.94 and sim[1, 2] > 0.94 and sim[0, 2] < 0.94
    fused, _, fused_scores = fuse_thing_kernels(kernels, torch.zeros(3).long(),
                                                scores, 0.94)
    assert fused_scores.tolist() == pytest.approx([0.9])
    assert fused[0].tolist() == pytest.approx(
        ((kernels[0] + kernels[1]) / 2).tolist())


def test_fuse_thing_kernels_empty_and_bad_input():
    fused, labels, scores = fuse_thing_kernels(
        torch.zeros(0, 4), torch.zeros(0).long(), torch.zeros(0))
    assert fused.shape == (0, 4) and labels.numel() == 0
    with pytest.raises(ValueError, match='same length'):
        fuse_thing_kernels(torch.zeros(2, 4), torch.zeros(1).long(),
                           torch.zeros(2))


def test_stuff_kernels_are_averaged_per_class_across_levels():
    kernels = torch.tensor([[1., 1.], [3., 5.], [2., 0.], [5., 3.]])
    labels = torch.tensor([4, 2, 4, 4])
    scores = torch.tensor([0.3, 0.6, 0.6, 0.9])
    fused, fused_labels, fused_scores = fuse_stuff_kernels(
        kernels, labels, scores)
    assert fused_labels.tolist() == [2, 4]
    assert fused.view(-1).tolist() == pytest.approx([3., 5., 8 / 3, 4 / 3])
    assert fused_scores.tolist() == pytest.approx([0.6, 0.6])
    empty = fuse_stuff_kernels(torch.zeros(0, 2), torch.zeros(0).long(),
                               torch.zeros(0))
    assert empty[0].shape == (0, 2)
