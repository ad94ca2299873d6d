from __future__ import annotations

import pytest
import torch

from dltool.config import group_options
from dltool.errors import UserError
from dltool.models import create_model, model_names

SHAPES = [(40,), (1, 8, 8)]  # MNIST-1D sequences and digits images


def test_every_model_has_a_config_and_every_config_a_model():
    assert model_names() == group_options("model")


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("shape", SHAPES)
def test_every_model_maps_a_batch_to_logits_with_finite_gradients(name, shape):
    torch.manual_seed(0)
    net = create_model(name, shape, 10)
    x = torch.randn(8, *shape)
    logits = net(x)
    assert logits.shape == (8, 10)
    torch.nn.functional.cross_entropy(logits, torch.arange(8)).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_unknown_model_and_unknown_argument_name_the_choices():
    with pytest.raises(UserError, match="unknown model 'resnet9'; choose from: mlp"):
        create_model("resnet9", (40,), 10)
    with pytest.raises(UserError, match="model mlp has no parameter width; valid: hidden, activation"):
        create_model("mlp", (40,), 10, width=3)
