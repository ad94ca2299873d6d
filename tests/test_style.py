"""dltool style: the course's costs against values worked out by hand, the optimization, seeds, files, feature nets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dltool.errors import UserError
from dltool.style import optimize, read_image
from dltool.style_costs import ALPHA, BETA, content_cost, gram, layer_style_cost, style_cost, total_cost, unroll
from dltool.style_nets import RANDOM_WHY, check_net, parse_layers, random_net
from tests.conftest import invoke

# one image's activations (1, n_C=2, n_H=2, n_W=2): channel 0 is [[1, 2], [3, 4]], channel 1 is [[0, 1], [0, 1]]
A = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])


def test_unroll_and_gram_by_hand():
    assert unroll(A).tolist() == [[1, 2, 3, 4], [0, 1, 0, 1]]
    # [1,2,3,4].[1,2,3,4] = 30, [1,2,3,4].[0,1,0,1] = 2 + 4 = 6, [0,1,0,1].[0,1,0,1] = 2
    assert gram(unroll(A)).tolist() == [[30, 6], [6, 2]]


def test_gram_matches_an_independent_einsum():
    a = torch.randn(1, 5, 6, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = np.einsum("chw,dhw->cd", a[0].numpy(), a[0].numpy())
    np.testing.assert_allclose(gram(unroll(a)).numpy(), expected, rtol=1e-12)


def test_content_cost_by_hand():
    # sum of squares 1 + 4 + 9 + 16 + 0 + 1 + 0 + 1 = 32; 4 n_H n_W n_C = 4 * 2 * 2 * 2 = 32
    assert content_cost(A, torch.zeros_like(A)).item() == pytest.approx(1.0)
    assert content_cost(A, A).item() == 0
    assert content_cost(A, A + 0.5).item() == pytest.approx(8 * 0.25 / 32)


def test_layer_style_cost_by_hand():
    # G_S = [[30, 6], [6, 2]], G_G = 0: sum of squares 900 + 36 + 36 + 4 = 976; (2 n_H n_W n_C)^2 = 16^2 = 256
    assert layer_style_cost(A, torch.zeros_like(A)).item() == pytest.approx(976 / 256)
    assert layer_style_cost(A, A).item() == 0
    # the Gram ignores where a feature is: a mirror image has the same style
    assert layer_style_cost(A, A.flip(-1)).item() == 0


def test_style_cost_normalization_is_the_courses():
    g = torch.Generator().manual_seed(1)
    a_s, a_g = torch.randn(1, 3, 4, 5, generator=g), torch.randn(1, 3, 4, 5, generator=g)
    squared = ((gram(unroll(a_s)) - gram(unroll(a_g))) ** 2).sum()
    # 1 / (4 n_C^2 (n_H n_W)^2) = 1 / (4 * 9 * 400) = 1 / 14400
    assert layer_style_cost(a_s, a_g).item() == pytest.approx(squared.item() / 14400, rel=1e-6)
    b_s, b_g = torch.randn(1, 2, 3, 3, generator=g), torch.randn(1, 2, 3, 3, generator=g)
    weighted = style_cost({"a": a_s, "b": b_s}, {"a": a_g, "b": b_g}, {"a": 0.25, "b": 0.75})
    expected = 0.25 * layer_style_cost(a_s, a_g) + 0.75 * layer_style_cost(b_s, b_g)
    assert weighted.item() == pytest.approx(expected.item())


def test_total_cost_and_the_courses_weights():
    assert (ALPHA, BETA) == (10, 40)
    assert total_cost(2.0, 3.0) == 10 * 2 + 40 * 3
    assert total_cost(2.0, 3.0, alpha=1, beta=0) == 2


def test_costs_refuse_shapes_that_do_not_compare():
    with pytest.raises(ValueError):
        content_cost(A, torch.zeros(1, 2, 2, 3))
    with pytest.raises(ValueError):
        layer_style_cost(A, torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError):
        unroll(torch.zeros(2, 2, 2, 2))  # two images, not one


def tiny(size=32):
    return read_image(None, "china", size, "--content"), read_image(None, "flower", size, "--style")


def test_optimization_lowers_j_and_stays_in_range():
    net = random_net(0)
    content, style = tiny()
    weights = parse_layers(None, net)
    image, history = optimize(net, content, style, weights, net.default_content(), steps=8)
    assert [row["step"] for row in history] == list(range(9))
    assert history[-1]["total"] < history[0]["total"]
    assert history[-1]["style"] < history[0]["style"]
    assert image.shape == (32, 32, 3) and image.min() >= 0 and image.max() <= 1


def test_same_seed_same_image_other_seed_other_image():
    content, style = tiny()

    def run(seed):
        net = random_net(seed)
        return optimize(net, content, style, parse_layers(None, net), "features.2", steps=3, seed=seed)

    (a, history_a), (b, history_b), (c, _) = run(0), run(0), run(1)
    assert np.array_equal(a, b) and history_a == history_b
    assert not np.array_equal(a, c)


def test_the_random_net_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    first, again, other = random_net(3), random_net(3), random_net(4)
    assert torch.equal(torch.get_rng_state(), state)
    weights = [[p for _, s in net.stages for p in s.parameters()] for net in (first, again, other)]
    assert all(torch.equal(x, y) for x, y in zip(weights[0], weights[1]))
    assert not torch.equal(weights[0][0], weights[2][0])
    assert first.names == [f"features.{i}" for i in range(5)] and first.conv == first.names
    assert all(not p.requires_grad for p in weights[0])


def test_layers_parse_with_and_without_weights():
    net = random_net(0)
    assert parse_layers(None, net) == {f"features.{i}": 0.2 for i in range(5)}
    assert parse_layers("features.0,features.3", net) == {"features.0": 0.5, "features.3": 0.5}
    assert parse_layers("features.1=0.3, features.2=0.7", net) == {"features.1": 0.3, "features.2": 0.7}
    for bad in ("features.0=1,features.1", "features.0,features.0", "features.0=-1", "features.0=0"):
        with pytest.raises(UserError):
            parse_layers(bad, net)


def test_nets_that_cannot_read_an_image_are_explained():
    from dltool.models import create_model

    with pytest.raises(UserError, match=r"no 2-D convolutional layers.*data=digits model=cnn"):
        check_net(create_model("cnn", (40,), 10), "model cnn", (40,))  # 1-D convolutions on MNIST-1D signals
    with pytest.raises(UserError, match="no 2-D convolutional layers"):
        check_net(create_model("mlp", (1, 8, 8), 10), "model mlp", (1, 8, 8))
    with pytest.raises(UserError, match=r"RGB \(3, H, W\) or gray \(1, H, W\)"):
        check_net(create_model("cnn", (2, 8, 8), 10), "model cnn", (2, 8, 8))
    names = [name for name, _ in check_net(create_model("unet", (1, 16, 16), 3, channels=[4, 8]), "unet", (1, 16, 16))]
    assert names == ["down.0", "down.1"]


def test_user_images_gray_and_rgba_become_rgb_squares(tmp_path):
    from PIL import Image

    Image.fromarray(np.arange(40 * 60, dtype=np.uint32).reshape(40, 60).astype(np.uint8)).save(tmp_path / "g.png")
    Image.new("RGBA", (30, 20), (255, 0, 0, 128)).save(tmp_path / "a.png")
    gray, rgba = read_image(str(tmp_path / "g.png"), "china", 12, "--content"), read_image(
        str(tmp_path / "a.png"), "china", 12, "--style")
    assert gray.shape == rgba.shape == (12, 12, 3)
    assert np.array_equal(gray[..., 0], gray[..., 2])
    assert np.allclose(rgba[..., 0], 1) and np.allclose(rgba[..., 1:], 0)


def test_the_command_writes_its_files_and_names_the_feature_net(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("style", "--size", 32, "--steps", 3, "--name", "tiny")
    assert result.exit_code == 0, result.stderr
    folder = tmp_path / "style" / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["loss.png", "result.png", "side_by_side.png", "style.json"]
    assert "features: random conv net (seed 0" in result.stdout
    assert f"why: {RANDOM_WHY}" in result.stdout
    assert "random features carry texture but not semantics" in RANDOM_WHY
    saved = json.loads((folder / "style.json").read_text())
    assert saved["features"]["kind"] == "random" and saved["features"]["why"] == RANDOM_WHY
    assert saved["settings"]["steps"] == 3 and saved["settings"]["optimizer"] == "adam"
    assert saved["final"]["total"] < saved["start"]["total"] and saved["seconds"] > 0
    assert len(saved["history"]) == 4
    from PIL import Image

    with Image.open(folder / "result.png") as image:
        assert image.size == (32, 32) and image.mode == "RGB"
    again = invoke("style", "--size", 32, "--steps", 3, "--name", "tiny")
    assert again.exit_code == 2 and "style/tiny already exists" in again.stderr


def test_output_file_json_and_same_seed_same_png(tmp_path):
    runs = []
    for name in ("a", "b"):
        result = invoke("style", "--size", 32, "--steps", 2, "--output", tmp_path / f"{name}.png", "--json")
        assert result.exit_code == 0, result.stderr
        runs.append(json.loads(result.stdout))
    assert runs[0]["image"] == str(tmp_path / "a.png")
    for suffix in (".png", "-loss.png", "-side_by_side.png", ".json"):
        assert (tmp_path / f"a{suffix}").is_file()
    assert json.loads((tmp_path / "a.json").read_text())["final"] == runs[0]["final"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert runs[0]["history"] == runs[1]["history"]


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """A tiny conv net on the 8x8 gray digits, trained for one epoch."""
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", "data=digits", "model=cnn", "model.channels=[8,8]", "trainer.max_epochs=1",
                    "--runs-dir", runs, "--name", "cnn")
    assert result.exit_code == 0, result.stderr
    return runs


def test_features_from_a_trained_cnn_run(cnn_run, tmp_path):
    from dltool.style_nets import run_net

    net = run_net("cnn", cnn_run)
    assert net.names == ["features.0", "features.1", "features.2", "features.3"]
    assert net.conv == ["features.0", "features.2"]
    assert net.prepare(torch.rand(1, 3, 8, 8)).shape == (1, 1, 8, 8)  # digits are gray: one channel in
    result = invoke("style", "--features", "cnn", "--runs-dir", cnn_run, "--size", 32, "--steps", 3,
                    "--output", tmp_path / "out.png")
    assert result.exit_code == 0, result.stderr
    assert "features: run cnn: model cnn trained on data=digits (gray inputs (1, 8, 8))" in result.stdout
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["features"]["kind"] == "run" and saved["features"]["model"] == "cnn"
    assert saved["settings"]["style_layers"] == {"features.0": 0.5, "features.2": 0.5}
    assert saved["settings"]["content_layer"] == "features.2"
    assert saved["final"]["total"] < saved["start"]["total"]


def test_the_command_line_defaults_are_the_modules():
    import inspect

    import dltool.style as module
    from dltool import cli_tools as cli

    defaults = {name: p.default for name, p in inspect.signature(cli.style).parameters.items()}
    assert (defaults["steps"], defaults["lr"], defaults["size"], defaults["seed"], defaults["threads"]) == \
        (module.STEPS, module.LR, module.SIZE, module.SEED, module.THREADS)
    assert (defaults["alpha"], defaults["beta"]) == (ALPHA, BETA)
