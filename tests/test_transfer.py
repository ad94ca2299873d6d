"""Transfer learning: model.init_from copies another run's net but its head; model.freeze chooses what trains."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from dltool.config import compose
from dltool.errors import UserError
from dltool.train import build, train

DIGITS = ["data=digits", "trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A short CNN run on the digits (10 classes) to start others from."""
    runs = tmp_path_factory.mktemp("runs")
    train(compose(["model=cnn", *DIGITS]), runs_dir=runs, name="src", progress=False)
    return runs / "src"


def best_net(run) -> dict:
    state = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    return {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}


def test_init_from_copies_all_but_the_head_which_is_built_for_the_new_outputs(source, tmp_path):
    # a new task of 3 classes on inputs of the same shape (8x8 images)
    new = ["model=cnn", "data=synthetic", "data.shape=[1,8,8]", "data.classes=3", "data.n=300",
           f"model.init_from={source}"]
    s = build(compose(new))
    pretrained, net = best_net(source), s.module.net.state_dict()
    body = [k for k in net if not k.startswith("head.")]
    assert body and all(torch.equal(net[k], pretrained[k]) for k in body)
    assert net["head.0.weight"].shape == (3, pretrained["head.0.weight"].shape[1])  # 3 outputs, not 10
    assert s.pretrained == str(source.resolve())
    result = train(compose(new + ["trainer.max_epochs=1"]), runs_dir=tmp_path, name="t", progress=False)
    saved = OmegaConf.load(tmp_path / "t" / "config.yaml")
    assert result["status"] == "completed" and saved.model.init_from == str(source.resolve())


def test_a_frozen_backbone_leaves_all_but_the_head_as_it_was(source, tmp_path):
    train(compose(["model=cnn", *DIGITS, f"model.init_from={source}", "model.freeze=backbone"]), runs_dir=tmp_path,
          name="f", progress=False)
    before, after = best_net(source), best_net(tmp_path / "f")
    body = [k for k in after if not k.startswith("head.")]
    assert all(torch.equal(after[k], before[k]) for k in body)  # weights and batch-norm statistics alike
    assert not torch.equal(after["head.0.weight"], before["head.0.weight"])


def test_freezing_all_but_the_last_blocks(source):
    s = build(compose(["model=cnn", *DIGITS, f"model.init_from={source}", "model.freeze=2"]))
    blocks = [b for b in s.module.net.features if list(b.parameters())]  # the three conv blocks (not the pools)
    trains = [all(p.requires_grad for p in b.parameters()) for b in blocks]
    assert trains == [False, True, True]
    assert all(p.requires_grad for p in s.module.net.head.parameters())
    learned = {id(p) for group in s.optimizer.param_groups for p in group["params"]}
    assert learned == {id(p) for p in s.module.parameters() if p.requires_grad}  # the optimizer skips the rest


@pytest.mark.parametrize("overrides,message", [
    (["model.init_from=/no/such/run"], "model.init_from=/no/such/run: no run folder there"),
    (["model=mlp", "model.init_from={src}"], "model.init_from={src}: that run trained model cnn, not mlp"),
    (["model=cnn", "model.channels=[8,8]", "model.init_from={src}"],
     r"features.0.bn.bias is \(32,\) there and \(8,\) here"),
    (["model=cnn", "model.freeze=9"], "model.freeze=9: the net's features have only 3 blocks with weights"),
    (["model=gru", "model.freeze=1"], "model.freeze=1: this net has no sequence of blocks"),
    (["model=cnn", "model.freeze=some"], r"model.freeze \(none, backbone, embedding or a number of blocks\) must be an integer"),
    (["model=cnn", "model.freeze=embedding"], r"model.freeze=embedding: this net has no word embedding \(net.embed\)"),
])
def test_transfer_mistakes_are_one_line(source, overrides, message):
    overrides = [o.format(src=source) for o in overrides]
    with pytest.raises(UserError, match=message.format(src=source)):
        build(compose([*DIGITS, *overrides]))
