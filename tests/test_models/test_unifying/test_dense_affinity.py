import pytest
import torch

from mmpanoptic.models.unifying.dense_affinity import (
    DenseAffinityHead, propagate_dense_affinity,
    propagate_dense_affinity_explicit)


@pytest.mark.parametrize('num_channels', [0, 1, 7])
def test_right_to_left_equals_explicit_product(num_channels):
    generator = torch.Generator().manual_seed(num_channels)
    potential = torch.rand(num_channels, 5, 6, generator=generator,
                           dtype=torch.float64)
    queries = torch.randn(3, 5, 6, generator=generator, dtype=torch.float64)
    keys = torch.randn(3, 5, 6, generator=generator, dtype=torch.float64)
    fast = propagate_dense_affinity(potential, queries, keys)
    # brute force: P_i(k) = Psi_i(k) + sum_j sum_c q_c(i) k_c(j) Psi_j(k)
    q, k, psi = queries.flatten(1), keys.flatten(1), potential.flatten(1)
    brute = psi.clone()
    for i in range(30):
        for j in range(30):
            brute[:, i] += (q[:, i] * k[:, j]).sum() * psi[:, j]
    assert fast.shape == potential.shape
    torch.testing.assert_close(fast.flatten(1), brute)
    torch.testing.assert_close(
        fast, propagate_dense_affinity_explicit(potential, queries, keys))


def test_right_to_left_gradients_equal_explicit():
    generator = torch.Generator().manual_seed(1)
    inputs = [
        torch.rand(4, 3, 5, generator=generator, dtype=torch.float64),
        torch.randn(2, 3, 5, generator=generator, dtype=torch.float64),
        torch.randn(2, 3, 5, generator=generator, dtype=torch.float64)
    ]
    weights = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    grads = []
    for function in (propagate_dense_affinity,
                     propagate_dense_affinity_explicit):
        leaves = [t.clone().requires_grad_() for t in inputs]
        (function(*leaves) * weights).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    for fast, explicit in zip(*grads):
        torch.testing.assert_close(fast, explicit)


def test_shape_errors_are_explicit():
    with pytest.raises(ValueError, match='spatial size'):
        propagate_dense_affinity(
            torch.rand(2, 4, 4), torch.rand(3, 4, 5), torch.rand(3, 4, 5))
    with pytest.raises(ValueError, match='same shape'):
        propagate_dense_affinity(
            torch.rand(2, 4, 4), torch.rand(3, 4, 4), torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match=r'\(K, H, W\)'):
        propagate_dense_affinity(
            torch.rand(4, 4), torch.rand(3, 4, 4), torch.rand(3, 4, 4))


def _tiny_head():
    decoder = dict(
        type='UPSNetSemanticHead',
        in_channels=8,
        feat_channels=8,
        out_channels=4,
        num_convs=1,
        num_levels=2,
        deformable=False,
        norm_cfg=dict(type='GN', num_groups=2, requires_grad=True))
    head = DenseAffinityHead(affinity_channels=6, decoder=decoder)
    head.init_weights()
    return head


def test_affinity_head_is_row_stochastic_and_matches_explicit():
    torch.manual_seed(0)
    head = _tiny_head()
    feats = (torch.randn(2, 8, 8, 10), torch.randn(2, 8, 4, 5))
    affinity_feats = head(feats)
    assert affinity_feats.shape == (2, 6, 8, 10)
    queries, keys = head.project(affinity_feats[0])
    affinity = queries.flatten(1).t() @ keys.flatten(1)  # (HW, HW)
    assert (affinity >= 0).all()
    torch.testing.assert_close(affinity.sum(1), torch.ones(80))
    # a constant potential is a fixed point of A: P = 2 Psi
    constant = torch.full((3, 8, 10), 0.3)
    torch.testing.assert_close(
        head.propagate(constant, affinity_feats[0]), 2 * constant)
    potential = torch.rand(5, 8, 10)
    torch.testing.assert_close(
        head.propagate(potential, affinity_feats[0]),
        propagate_dense_affinity_explicit(potential, queries, keys))
