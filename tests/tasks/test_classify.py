from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dltool.tasks.base import standardizer
from dltool.tasks.classify import Classify

INFO = {"classes": ["a", "b", "c"]}

OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}


def test_standardizer_uses_the_given_split_and_guards_constant_features():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    mean, std = standardizer(x)
    assert mean.tolist() == [2.0, 5.0]
    assert std[0].item() == pytest.approx(np.std([1, 3], ddof=1)) and std[1].item() == 1.0


def test_validation_step_sums_loss_and_counts_mistakes():
    net = nn.Identity()  # the inputs are the logits
    module = Classify(net, INFO, torch.zeros(3), torch.ones(3), OPT, {"name": "none"}, 1)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    y = torch.tensor([0, 2, 2, 1])
    sums = module.validation_step({"x": logits, "y": y})
    loss_sum, wrong = sums["loss"], sums["wrong"]
    assert wrong.item() == 2
    by_hand = -sum(np.log(np.exp(l[t]) / np.exp(l).sum()) for l, t in zip(logits.numpy(), y.numpy()))
    assert loss_sum.item() == pytest.approx(by_hand, rel=1e-5)


def test_normalization_is_part_of_the_model():
    net = nn.Identity()
    module = Classify(net, INFO, torch.tensor([1.0]), torch.tensor([2.0]), OPT, {"name": "none"}, 1)
    assert module(torch.tensor([[5.0]])).item() == 2.0
    assert set(module.state_dict()) == {"mean", "std"}  # saved with the weights, so a checkpoint is self-contained


@pytest.mark.filterwarnings("ignore:.*val_dataloader", "ignore:.*LeafSpec")
def test_the_module_also_runs_under_the_lightning_trainer():
    import pytorch_lightning as pl

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    module = Classify(nn.Linear(4, 2), {"classes": ["0", "1"]}, x.mean(0), x.std(0), {**OPT, "lr": 0.5}, {"name": "step", "step_size": 1,
                        "gamma": 0.9}, 5)
    trainer = pl.Trainer(max_epochs=5, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    # batches are dicts of tensors: the default collate stacks a list of example dicts into one
    loader = torch.utils.data.DataLoader([{"x": xi, "y": yi} for xi, yi in zip(x, y)], batch_size=16)
    trainer.fit(module, train_dataloaders=loader)
    assert module.validation_step({"x": x, "y": y})["wrong"].item() <= 6  # a linearly separable problem, learned
