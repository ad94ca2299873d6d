from __future__ import annotations

import pytest
import torch
from torch import nn

from dltool.augment import augment, check, random_shift
from dltool.tasks.classify import Classify
from dltool.errors import UserError


def test_a_shift_moves_each_signal_by_at_most_shift_steps():
    torch.manual_seed(0)
    x = torch.zeros(500, 1, 40)
    x[:, 0, 20] = 1.0  # a spike in the middle of each signal
    out = random_shift(x, 3, dim=2)
    positions = out[:, 0].argmax(dim=1) - 20
    assert out.sum(dim=2).eq(1).all()  # still one spike each: moved, not smeared
    assert set(positions.tolist()) == {-3, -2, -1, 0, 1, 2, 3}  # every offset drawn


def test_a_shift_fills_with_zeros_not_wrapping():
    x = torch.arange(1, 6, dtype=torch.float).repeat(200, 1)  # (200, 5): 1 2 3 4 5
    out = random_shift(x, 2, dim=1)
    for row in out.tolist():
        kept = [v for v in row if v]
        assert kept == sorted(kept) and len(kept) >= 3  # values keep their order; the shifted-out end is zero


def test_images_shift_on_both_axes():
    torch.manual_seed(1)
    x = torch.zeros(300, 1, 8, 8)
    x[:, 0, 4, 4] = 1.0
    out = augment(x, shift=1)
    rows, cols = torch.nonzero(out[:, 0], as_tuple=True)[1:]
    assert set(rows.tolist()) == {3, 4, 5} and set(cols.tolist()) == {3, 4, 5}


def test_noise_and_scale():
    torch.manual_seed(2)
    x = torch.ones(2000, 40)
    assert (augment(x, noise=0.5) - x).std().item() == pytest.approx(0.5, rel=0.02)
    factors = augment(x, scale=0.2)[:, 0]
    assert factors.min() >= 0.8 and factors.max() <= 1.2 and factors.std() > 0.05
    assert torch.equal(augment(x), x)  # all off: untouched


def test_only_training_batches_are_augmented():
    torch.manual_seed(3)
    net = nn.Linear(40, 3)
    info = {"classes": ["0", "1", "2"]}
    plain = Classify(net, info, torch.zeros(40), torch.ones(40), {"name": "sgd", "lr": 0.1, "weight_decay": 0}, {"name": "none"}, 1)
    noisy = Classify(net, info, torch.zeros(40), torch.ones(40), {"name": "sgd", "lr": 0.1, "weight_decay": 0}, {"name": "none"}, 1,
                       {"shift": 0, "noise": 1.0, "scale": 0.0})
    x, y = torch.randn(64, 40), torch.randint(0, 3, (64,))
    batch = {"x": x, "y": y}
    assert torch.equal(noisy.validation_step(batch)["loss"], plain.validation_step(batch)["loss"])
    assert noisy.training_step(batch, 0).item() != plain.training_step(batch, 0).item()


@pytest.mark.parametrize("cfg,message", [({"shift": -1, "noise": 0, "scale": 0}, "data.augment.shift"),
                                         ({"shift": 1.5, "noise": 0, "scale": 0}, "must be an integer"),
                                         ({"shift": 0, "noise": -0.1, "scale": 0}, "data.augment.noise"),
                                         ({"shift": 0, "noise": 0, "scale": 1.0}, r"data.augment.scale must be a number in \[0, 1\)")])
def test_bad_augmentation_values(cfg, message):
    with pytest.raises(UserError, match=message):
        check(cfg)


def test_augmented_training_runs_and_repeats(tmp_path):
    from dltool.config import compose
    from dltool.train import train

    overrides = ["data=digits", "trainer.max_epochs=3", "data.augment.shift=1", "data.augment.noise=0.1"]
    a = train(compose(overrides), runs_dir=tmp_path, progress=False)
    b = train(compose(overrides), runs_dir=tmp_path, progress=False)
    assert a["splits"] == b["splits"] and a["splits"]["test"]["error"] < 0.5


def test_a_run_with_augmentation_trains_on_altered_batches(tmp_path):
    """The same seed with and without data.augment gives other numbers: the augmentation reaches the training loop."""
    from dltool.config import compose
    from dltool.train import train

    base = ["data=digits", "trainer.max_epochs=2"]
    plain = train(compose(base), runs_dir=tmp_path, progress=False)
    noisy = train(compose([*base, "data.augment.noise=0.5"]), runs_dir=tmp_path, progress=False)
    assert noisy["splits"]["train"]["loss"] != plain["splits"]["train"]["loss"]


def test_a_shift_moves_a_signal_along_time_and_an_image_along_both_sides_never_across_channels():
    from dltool.augment import shift_dims

    assert list(shift_dims(torch.zeros(2, 40))) == [1]
    assert list(shift_dims(torch.zeros(2, 3, 40))) == [2]  # (B, C, L): the channels stay as they are
    assert list(shift_dims(torch.zeros(2, 1, 8, 8))) == [2, 3]
    x = torch.stack([torch.arange(1.0, 7.0), torch.arange(101.0, 107.0)])[None].repeat(50, 1, 1)  # (50, 2, 6)
    torch.manual_seed(0)
    shifted = augment(x, shift=2)
    kept = shifted[:, 0] != 0  # the steps not shifted in: both channels moved by the same steps in time
    assert torch.equal(kept, shifted[:, 1] != 0) and kept.sum(dim=1).min() >= 4
    assert torch.equal((shifted[:, 1] - shifted[:, 0])[kept], torch.full((int(kept.sum()),), 100.0))
    assert len({int(row.argmax()) for row in shifted[:, 0]}) > 1  # and the draws differ between examples
