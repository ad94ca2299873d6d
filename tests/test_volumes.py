"""3-D convolutions on volumes (issue 13): the seeded shapes of ``data=volumes``, Conv3d's shape arithmetic, a run
through the CLI, and the nets that take no volume refusing one in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from dltool.config import compose
from dltool.data import load_data
from dltool.data.volumes import CLASSES, SHELL, draw, generate
from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.layers import conv_output_size
from tests.conftest import invoke
from tests.models.conftest import of_type

SIZE = 16


def test_the_volumes_are_seeded():
    a, b, other = generate(30, SIZE, 0.3, seed=0), generate(30, SIZE, 0.3, seed=0), generate(30, SIZE, 0.3, seed=1)
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"], b["y"])
    assert not np.array_equal(a["x"], other["x"]) and not np.array_equal(a["y"], other["y"])


def test_shapes_dtypes_and_balanced_classes():
    arrays = generate(23, SIZE, 0.3, seed=0)
    assert arrays["x"].shape == (23, 1, SIZE, SIZE, SIZE) and arrays["x"].dtype == np.float32
    assert arrays["y"].shape == (23,) and arrays["y"].dtype == np.int64
    assert sorted(np.bincount(arrays["y"], minlength=5).tolist()) == [4, 4, 5, 5, 5]  # 23 = 4 x 5 + 3
    clean = generate(10, SIZE, 0.0, seed=0)["x"]
    assert set(np.unique(clean).tolist()) == {0.0, 1.0}  # without noise: voxels on or off
    assert np.std(arrays["x"] - generate(23, SIZE, 0.0, seed=0)["x"]) > 0.2  # the noise comes last: same shapes


def test_the_config_loads_and_every_key_is_checked():
    cfg = compose(["data=volumes", "data.n=100"]).data
    data = load_data(cfg, seed=0)
    assert data.input_shape == (1, SIZE, SIZE, SIZE) and data.classes == CLASSES
    assert sum(len(s["y"]) for s in data.splits.values()) == 100 and data.human_error is None
    for key, value, message in (("size", 8, r"data.size must be an integer in \[12, 64\], got 8"),
                                ("noise", -1, r"data.noise must be a number in \[0, inf\), got -1"),
                                ("n", 10, r"data.n must be an integer in \[20, inf\), got 10")):
        bad = cfg.copy()
        bad[key] = value
        with pytest.raises(UserError, match=f"^{message}$"):
            load_data(bad, seed=0)


def _grid():
    return np.stack(np.meshgrid(*[np.arange(SIZE)] * 3, indexing="ij"))


def _extent(on):
    """The on voxels' extent (max - min + 1) along each axis (z, y, x)."""
    idx = np.argwhere(on)
    return tuple((idx.max(axis=0) - idx.min(axis=0) + 1).tolist())


@pytest.mark.parametrize("seed", range(4))
def test_balls_are_full_and_shells_hollow(seed):
    ball, p = draw("ball", SIZE, np.random.default_rng(seed))
    shell, q = draw("shell", SIZE, np.random.default_rng(seed))
    assert p["radius"] == q["radius"] and np.allclose(p["centre"], q["centre"])  # same draws: only the inside differs
    centre = tuple(np.round(p["centre"]).astype(int))
    assert ball[centre] == 1 and shell[centre] == 0
    dist = np.sqrt(((_grid() - p["centre"][:, None, None, None]) ** 2).sum(axis=0))
    np.testing.assert_array_equal(ball == 1, dist <= p["radius"])
    np.testing.assert_array_equal(shell == 1, (dist <= p["radius"]) & (dist >= p["radius"] - SHELL))
    assert 0 < shell.sum() < ball.sum()
    assert _extent(ball == 1) == _extent(shell == 1)  # seen from outside, alike


@pytest.mark.parametrize("seed", range(4))
def test_a_cube_fills_its_box(seed):
    cube, p = draw("cube", SIZE, np.random.default_rng(seed))
    extent = _extent(cube == 1)
    assert cube.sum() == np.prod(extent)  # solid and axis-aligned: it fills its box
    side = int(2 * p["half"])  # a voxel is in where its centre is: 2h or 2h + 1 voxels along each axis
    assert all(e in (side, side + 1) for e in extent)


def test_a_rod_lies_along_a_random_axis_and_a_cross_along_all_three():
    axes = set()
    for seed in range(12):
        rod, p = draw("rod", SIZE, np.random.default_rng(seed))
        extent = _extent(rod == 1)
        a = p["axis"]
        axes.add(a)
        assert extent[a] >= int(p["length"]) and all(extent[b] <= 2 * p["radius"] + 1 for b in range(3) if b != a)
        cross, q = draw("cross", SIZE, np.random.default_rng(seed))
        c = tuple(np.round(q["centre"]).astype(int))
        side = int(q["length"])  # three rods of one length through the centre
        assert cross[c] == 1 and all(e in (side, side + 1) for e in _extent(cross == 1))
        for a in range(3):  # along each axis from the centre, the rod's voxels
            end = list(c)
            end[a] = int(np.ceil(q["centre"][a] - q["length"] / 2 + 1e-9))
            assert cross[tuple(end)] == 1
        corner = tuple(np.argwhere(cross == 1).min(axis=0))
        assert cross[corner] == 0  # the corner of its box is empty: a cross, no cube
    assert axes == {0, 1, 2}


def test_conv3d_output_sizes_follow_the_shape_arithmetic():
    # each axis alone: depth 16 -valid k5 s1-> 12 -pool-> 6 -valid k3 s2-> 2 -pool-> 1; height 20 -> 16 -> 8 -> 3 -> 1;
    # width 28 -> 24 -> 12 -> 5 -> 2
    shape = (2, 16, 20, 28)
    net = create_model("cnn", shape, 5, channels=[4, 6], kernel_sizes=[5, 3], strides=[1, 2], padding="valid")
    sizes = [16, 20, 28]
    for k, s in ((5, 1), (3, 2)):
        sizes = [conv_output_size(conv_output_size(n, k, 0, s), 2, 0, 2) for n in sizes]
    assert sizes == [1, 1, 2]
    convs = of_type(net, nn.Conv3d)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (2, 4, (5, 5, 5), (1, 1, 1)), (4, 6, (3, 3, 3), (2, 2, 2))]
    assert len(of_type(net, nn.BatchNorm3d)) == 2 and len(of_type(net, nn.MaxPool3d)) == 2
    x = torch.randn(3, *shape)
    assert net.features(x).shape == (3, 6, *sizes)
    assert of_type(net, nn.Linear)[0].in_features == 6 * int(np.prod(sizes))
    assert net(x).shape == (3, 5)
    gap = create_model("cnn", (1, 8, 8, 8), 5, channels=[3], head="gap")
    assert of_type(gap, nn.AdaptiveAvgPool3d) and of_type(gap, nn.Linear)[0].in_features == 3
    assert not of_type(create_model("cnn", (1, 8, 8), 5, channels=[3]), nn.Conv3d)  # an image stays 2-D


@pytest.mark.parametrize("name", ["lenet", "cnn_paper", "resnet", "mobilenet", "mobilenet_v1", "inception", "alexnet",
                                  "vgg"])
def test_the_conv_families_take_volumes_through_the_shared_layers(name):
    torch.manual_seed(0)
    net = create_model(name, (1, 8, 8, 8), 5)
    assert of_type(net, nn.Conv3d) and not of_type(net, nn.Conv2d)
    logits = net(torch.randn(4, 1, 8, 8, 8))
    assert logits.shape == (4, 5)
    nn.functional.cross_entropy(logits, torch.arange(4)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    if name == "mobilenet":  # compound scaling's resolution resamples a volume trilinearly
        assert create_model(name, (1, 8, 8, 8), 5, resolution=1.5)(torch.randn(2, 1, 8, 8, 8)).shape == (2, 5)


def test_a_rank_five_example_is_refused_naming_the_shapes():
    with pytest.raises(UserError, match=r"^model cnn takes examples of shape \(L,\), \(C, L\), \(C, H, W\) or "
                                        r"\(C, D, H, W\); got \(1, 2, 3, 4, 5\)$"):
        create_model("cnn", (1, 2, 3, 4, 5), 5)


def test_train_on_volumes_through_the_cli_writes_metrics(tmp_path):
    result = invoke("train", "data=volumes", "model=cnn", "data.n=200", "trainer.max_epochs=2", "model.channels=[4,4]",
                    "--runs-dir", tmp_path, "--name", "v", "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert sum(metrics["splits"][s]["n"] for s in ("train", "train_dev", "dev", "test")) == 200
    assert 0 <= metrics["splits"]["test"]["error"] <= 1


@pytest.mark.parametrize("model,message", [
    ("rnn", "model rnn takes examples of shape (L,), (C, L) or (C, H, W); got (1, 16, 16, 16)"),
    ("transformer", "model transformer takes examples of shape (L,), (C, L) or (C, H, W); got (1, 16, 16, 16)"),
])
def test_a_model_without_volumes_refuses_them_in_one_line(model, message, tmp_path):
    """The sequence nets read an image's rows as time steps; a volume has no such reading: one line, no traceback."""
    result = invoke("train", "data=volumes", f"model={model}", "data.n=40", "--runs-dir", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"dltool: error: {message}"]
    assert not list(tmp_path.rglob("metrics.json"))
