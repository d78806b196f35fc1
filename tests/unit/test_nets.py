"""Tests for toy_models.nets: shapes, a linear embedding layer, gradients, determinism, argument checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from toy_models.nets import BACKBONES, build_backbone

SHAPES = [(1, 8, 8), (1, 28, 28)]


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("input_shape", SHAPES)
@pytest.mark.parametrize("dim", [2, 3, 16])
def test_output_shape_and_dtype(name, input_shape, dim):
    torch.manual_seed(0)
    net = build_backbone(name, input_shape, dim)
    out = net(torch.rand(5, *input_shape))
    assert out.shape == (5, dim) and out.dtype == torch.float32
    assert net.embedding_dim == dim


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("input_shape", SHAPES)
def test_last_layer_is_linear_with_nothing_after_it(name, input_shape):
    torch.manual_seed(0)
    net = build_backbone(name, input_shape, 2)
    assert isinstance(net.embedding, nn.Linear)
    assert list(net.modules())[-1] is net.embedding  # registered last: no activation module after it
    x = torch.rand(8, *input_shape)
    out = net(x)
    assert torch.allclose(out, net.embedding(net.body(x)))  # the output IS the linear layer's output
    # Nothing non-linear after it: negating the embedding layer's weights negates the output exactly
    # (a ReLU there would instead confine features to the positive orthant).
    with torch.no_grad():
        net.embedding.weight.neg_()
        net.embedding.bias.neg_()
    assert torch.allclose(net(x), -out)


@pytest.mark.parametrize("name", BACKBONES)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    net = build_backbone(name, (1, 8, 8), 3)
    net(torch.rand(16, 1, 8, 8)).square().sum().backward()
    for param_name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", BACKBONES)
def test_deterministic_given_manual_seed(name):
    torch.manual_seed(42)
    a = build_backbone(name, (1, 8, 8), 2)
    torch.manual_seed(42)
    b = build_backbone(name, (1, 8, 8), 2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(a(x), b(x))


def test_hidden_width_is_used():
    net = build_backbone("mlp", (1, 8, 8), 2, hidden=32)
    assert net.embedding.in_features == 32


def test_mlp_is_small():
    net = build_backbone("mlp", (1, 8, 8), 2)
    assert sum(p.numel() for p in net.parameters()) < 20_000


@pytest.mark.parametrize("dim", [1, 0, -3, 2.0, True])
def test_embedding_dim_below_two_or_not_an_int_is_rejected(dim):
    with pytest.raises(ValueError, match="embedding_dim must be an integer of at least 2"):
        build_backbone("mlp", (1, 8, 8), dim)


def test_unknown_backbone_is_rejected():
    with pytest.raises(ValueError, match="unknown backbone 'resnet': expected one of mlp, cnn"):
        build_backbone("resnet", (1, 8, 8), 2)


def test_bad_input_shapes_are_rejected():
    with pytest.raises(ValueError, match="input_shape"):
        build_backbone("mlp", (1, 0, 8), 2)
    with pytest.raises(ValueError, match="the cnn backbone needs input_shape"):
        build_backbone("cnn", (64,), 2)
    with pytest.raises(ValueError, match="the cnn backbone needs input_shape"):
        build_backbone("cnn", (1, 2, 2), 2)


def test_name_is_case_insensitive():
    assert isinstance(build_backbone("CNN", (1, 8, 8), 2).embedding, nn.Linear)


def test_the_cnn_grows_a_third_block_for_28_pixel_inputs_only():
    def convs(net):
        return [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]

    digits_net = build_backbone("cnn", (1, 8, 8), 3)
    assert convs(digits_net) == [16, 32] and sum(p.numel() for p in digits_net.parameters()) == 13_251  # as before
    wide = build_backbone("cnn", (1, 28, 28), 16)
    assert convs(wide) == [16, 32, 64] and wide.body[-2].in_features == 64 * 3 * 3
    assert convs(build_backbone("cnn", (1, 23, 23), 3)) == [16, 32]  # 24 px is where the third block starts
    assert convs(build_backbone("cnn", (1, 24, 24), 3)) == [16, 32, 64]  # exactly 24 px: three blocks
    assert wide(torch.rand(2, 1, 28, 28)).shape == (2, 16)


def test_the_cnn_takes_inputs_of_exactly_4_by_4_and_refuses_3():
    net = build_backbone("cnn", (1, 4, 4), 2, hidden=8)
    assert net(torch.zeros(2, 1, 4, 4)).shape == (2, 2)
    for shape in ((1, 3, 4), (1, 4, 3)):
        with pytest.raises(ValueError, match=r"height and width of at least 4, got \(1, [34], [34]\)"):
            build_backbone("cnn", shape, 2, hidden=8)
