"""``dltool visualize``: the top patches of conv units (Zeiler & Fergus 2013).

The receptive fields are checked against hand-worked numbers and, for every conv family, against torch.autograd: the
gradient of one unit at one position with respect to the input is nonzero only inside the computed window, and, in
the same net made linear (activations removed, max pools made average pools), exactly on it. The top-k is checked on
hand-built nets whose unit is a known detector (a step edge, a bright pixel) at known positions, the command on a tiny
real run (PNG and JSON, activations recomputed by a plain forward pass), and every mistake a user can make against the
one-line, exit-2, nothing-written promise.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.base import Net
from dltool.visualize import compose, conv_layers, crop, parse_layers, top_activations, union, window
from tests.conftest import invoke

START = ((1, 1, 0),)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny nets: one torch thread is fastest (and kind to a shared machine); conftest gives the rest of the suite
    its count back."""
    torch.set_num_threads(1)


def fields(net) -> list[list[int]]:
    return [[r for r, _, _ in layer["field"]] for layer in conv_layers(net)]


def strides(net) -> list[list[int]]:
    return [[j for _, j, _ in layer["field"]] for layer in conv_layers(net)]


# --- receptive fields by hand ----------------------------------------------------------------------------------------

def test_recurrence_on_hand_worked_stacks():
    assert compose(compose(START, 3, 1, 1), 3, 1, 1) == ((5, 1, -2),)  # two 3x3 convs, stride 1: 5
    assert compose(compose(START, 3, 2, 0), 3, 1, 0) == ((7, 2, 0),)  # conv3 stride 2, then conv3: 1 + 2 + 2*2
    assert compose(START, 3, 1, 2, dilation=2) == ((5, 1, -2),)  # a dilated 3-tap kernel spans 5
    # 2x2 pool stride 2, then conv5: 2 + 4*2 = 10, jump 2; each axis on its own
    assert compose(compose(((1, 1, 0), (1, 1, 0)), 2, 2, 0), (5, 3), 1, (2, 1)) == ((10, 2, -4), (6, 2, -2))
    # branches: a 1x1 shortcut (stride 2) inside a 3x3 stride-2 conv's window; unequal jumps cannot be joined
    assert union([compose(START, 3, 2, 1), compose(START, 1, 2, 0)]) == ((3, 2, -1),)
    with pytest.raises(ValueError):
        union([compose(START, 3, 2, 1), compose(START, 3, 1, 1)])


def test_fields_of_the_registered_nets_by_hand():
    # MNIST-1D's default cnn: conv5 (5) -> pool (6, jump 2) -> conv5 (6 + 4*2 = 14) -> pool (16, 4) -> conv5 (32)
    cnn = create_model("cnn", (40,), 10)
    assert fields(cnn) == [[5], [14], [32]] and strides(cnn) == [[1], [2], [4]]
    # the MNIST-1D paper's convnet: k5 s2 p1, k3 s2 p1, k3 s2 p1: 5; 5 + 2*2 = 9; 9 + 2*4 = 17; starts -1, -3, -7
    paper = create_model("cnn_paper", (40,), 10)
    assert [layer["field"] for layer in conv_layers(paper)] == [((5, 2, -1),), ((9, 4, -3),), ((17, 8, -7),)]
    # ResNet on 8x8: stem 3; block (3 + 2 + 2) 7; stride-2 block 7 + 2 + 2*2 = 13; 13 + 2*2 + 2*4 = 25
    resnet = create_model("resnet", (1, 8, 8), 10)
    assert fields(resnet) == [[3, 3], [7, 7], [13, 13], [25, 25]]
    assert strides(resnet) == [[1, 1], [1, 1], [2, 2], [4, 4]]
    # LeNet: conv5 (5) -> pool -> conv5 (6 + 4*2 = 14); the pools are no layers of their own
    lenet = create_model("lenet", (1, 8, 8), 10)
    assert [layer["name"] for layer in conv_layers(lenet)] == ["features.0", "features.2"]
    assert fields(lenet) == [[5, 5], [14, 14]]
    # Inception: stem 3; block 1's widest branch is 5x5: 3 + 4 = 7; 3x3 pool s2: 9, jump 2; block 2: 9 + 4*2 = 17
    inception = create_model("inception", (1, 8, 8), 10)
    assert fields(inception) == [[3, 3], [7, 7], [17, 17]]


def test_window_and_crop_pad_outside_the_input_with_nan():
    assert window(((5, 1, -2),), [0]) == [[-2, 3]]
    assert window(((14, 2, -6), (14, 2, -6)), [3, 1]) == [[0, 14], [-4, 10]]
    example = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    patch = crop(example, [[-1, 2], [2, 5]])
    assert patch.shape == (1, 3, 3)
    assert np.isnan(patch[0, 0]).all() and np.isnan(patch[0, :, 2]).all()
    assert patch[0, 1:, :2].tolist() == [[2, 3], [6, 7]]
    assert np.isnan(crop(example, [[5, 8], [0, 2]])).all()  # wholly outside


# --- receptive fields by gradient -----------------------------------------------------------------------------------

FAMILIES = [
    ("cnn", (1, 40), {}),
    ("cnn", (1, 12, 12), {"kernel_sizes": 3}),
    ("cnn", (2, 40), {"kernel_sizes": [5, 3, 3], "strides": [1, 2, 1], "padding": "valid", "pool": "avg"}),
    ("cnn_paper", (40,), {}),
    ("lenet", (1, 12, 12), {}),
    ("resnet", (1, 12, 12), {"channels": [4, 8, 8]}),
    ("resnet", (1, 40), {"channels": [4, 8, 8], "blocks": [2, 1, 1]}),
    ("mobilenet", (1, 12, 12), {"channels": [4, 8, 8]}),
    ("mobilenet_v1", (1, 40), {"channels": [4, 8, 8]}),
    ("inception", (1, 12, 12), {"width": 0.25}),
    ("yolo", (1, 16, 16), {"backbone_args": {"channels": [4, 8], "kernel_sizes": 3}, "hidden": 8}),
]


def linear(net):
    """The same net made linear: activations removed, max pools made average pools of the same window. Its
    gradient reaches every input position its field covers (no ReLU or max switches a path off)."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in list(parent._modules.items()):
            if type(child).__module__ == "torch.nn.modules.activation":
                parent._modules[name] = nn.Identity()
            elif isinstance(child, nn.modules.pooling._MaxPoolNd):
                parent._modules[name] = (nn.AvgPool1d if isinstance(child, nn.MaxPool1d) else nn.AvgPool2d)(
                    child.kernel_size, child.stride, child.padding)
    return net


def support(net, layer: dict):
    """Where the gradient of ``layer``'s most active unit at the middle of its map (a ReLU's 0 has no gradient) is
    nonzero, over the input's positions (any channel), and that position."""
    torch.manual_seed(1)
    z = torch.randn(1, *net.conv_shape, requires_grad=True)
    out = {}
    handle = net.features[layer["index"]].register_forward_hook(lambda m, i, o: out.setdefault("map", o))
    net.forward_features(z)
    handle.remove()
    position = [n // 2 for n in out["map"].shape[2:]]
    at = out["map"][(0, slice(None), *position)]
    at[int(at.argmax())].backward()
    return (z.grad[0] != 0).any(dim=0).numpy(), position


def box(shape, bounds) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(max(lo, 0), min(hi, n)) for (lo, hi), n in zip(bounds, shape))] = True
    return mask


@pytest.mark.parametrize("model,shape,args", FAMILIES, ids=[f"{m}-{'x'.join(map(str, s))}" for m, s, _ in FAMILIES])
def test_gradient_of_a_unit_lies_inside_its_computed_window(model, shape, args):
    torch.manual_seed(0)
    net = create_model(model, shape, 3 if model != "yolo" else 7, **args).eval()
    flat = linear(net).eval()
    for layer in conv_layers(net):
        mask, position = support(net, layer)
        expected = box(mask.shape, window(layer["field"], position))
        assert mask.any() and not (mask & ~expected).any(), (layer["name"], position)  # never outside the window
        exact, _ = support(flat, layer)
        assert (exact == expected).all(), (layer["name"], position, exact.sum(), expected.sum())  # and all of it


def test_a_net_without_conv_features_is_refused():
    with pytest.raises(UserError, match="no conv layers"):
        conv_layers(create_model("mlp", (40,), 10))


# --- the top-k on known detectors ------------------------------------------------------------------------------------

class Detector(Net):
    """features: a fixed 2-tap conv whose unit 0 fires on a rising step (x[i+1] - x[i]) and unit 1 on a falling one."""

    def __init__(self, length: int):
        super().__init__()
        self.conv_shape = (1, length)
        conv = nn.Conv1d(1, 2, 2, bias=False)
        conv.weight.data = torch.tensor([[[-1.0, 1.0]], [[1.0, -1.0]]])
        self.features = nn.Sequential(conv, nn.ReLU())
        self.head = nn.Linear(2 * (length - 1), 2)

    def forward_features(self, x):
        return self.features(x.reshape(len(x), *self.conv_shape)).flatten(1)


def test_a_step_detector_finds_the_highest_steps_at_their_edges():
    heights, edges = [1.0, 3.0, 2.0, 0.5, 3.0, 2.5], [4, 10, 7, 15, 2, 12]
    t = torch.arange(20)
    x = torch.stack([h * (t >= p).float() for h, p in zip(heights, edges)])
    result, patches = top_activations(Detector(20), x, units=2, top=4)
    layer = result[0]
    assert (layer["name"], layer["receptive_field"], layer["stride"], layer["map"]) == ("features.0", [2], [1], [19])
    rising, falling = layer["units"]
    assert rising["unit"] == 0 and falling["unit"] == 1  # by mean activation: rising steps only
    # heights 3, 3 (the lower index first), 2.5, 2; each found at x[p - 1] -> x[p]
    assert [t["index"] for t in rising["top"]] == [1, 4, 5, 2]
    assert [t["activation"] for t in rising["top"]] == [3.0, 3.0, 2.5, 2.0]
    assert [t["position"] for t in rising["top"]] == [[9], [1], [11], [6]]
    assert [t["window"] for t in rising["top"]] == [[[9, 11]], [[1, 3]], [[11, 13]], [[6, 8]]]
    assert patches[0].shape == (2, 4, 1, 2) and patches[0][0, :, 0].tolist() == [[0, 3], [0, 3], [0, 2.5], [0, 2]]
    assert [t["activation"] for t in falling["top"]] == [0.0] * 4  # never fires: the top is distinct examples still
    assert len({t["index"] for t in falling["top"]}) == 4
    # normalization: the net reads (x - mean) / std, the patches stay raw
    scaled, raw = top_activations(Detector(20), x, mean=torch.tensor(0.0), std=torch.tensor(2.0), units=1, top=1)
    assert scaled[0]["units"][0]["top"][0]["activation"] == 1.5 and raw[0][0, 0, 0].tolist() == [0, 3]


class Spot(Net):
    """features: a 3x3 'same' conv that copies the centre pixel: unit 0 is a bright-pixel detector."""

    def __init__(self):
        super().__init__()
        self.conv_shape = (1, 6, 6)
        conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
        conv.weight.data = torch.zeros(1, 1, 3, 3)
        conv.weight.data[0, 0, 1, 1] = 1.0
        self.features = nn.Sequential(conv)
        self.head = nn.Linear(36, 2)

    def forward_features(self, x):
        return self.features(x.reshape(len(x), *self.conv_shape)).flatten(1)


def test_a_spot_detector_finds_rows_and_columns_and_pads_at_the_border():
    spots = [((2, 3), 1.0), ((0, 5), 4.0), ((4, 1), 2.0)]
    x = torch.zeros(3, 1, 6, 6)
    for i, ((r, c), b) in enumerate(spots):
        x[i, 0, r, c] = b
    result, patches = top_activations(Spot(), x, top=3)
    unit = result[0]["units"][0]
    assert [(t["index"], t["position"], t["activation"]) for t in unit["top"]] == \
        [(1, [0, 5], 4.0), (2, [4, 1], 2.0), (0, [2, 3], 1.0)]
    assert unit["top"][0]["window"] == [[-1, 2], [4, 7]]
    first = patches[0][0, 0, 0]  # (3, 3): the spot in the middle, the row above and the column right outside
    assert first[1, 1] == 4.0 and np.isnan(first[0]).all() and np.isnan(first[:, 2]).all()
    assert np.nansum(first) == 4.0


def test_random_units_are_seeded_distinct_and_in_range():
    net = create_model("cnn", (40,), 10, channels=[6, 6]).eval()
    x = torch.randn(30, 40)

    def units(seed):
        result, _ = top_activations(net, x, units=4, top=2, pick="random", seed=seed)
        return [[u["unit"] for u in layer["units"]] for layer in result]

    assert units(3) == units(3)
    assert units(3) != units(4)
    assert all(len(set(u)) == 4 and all(0 <= i < 6 for i in u) for u in units(3))
    result, _ = top_activations(net, x, layers=[2], units=10, top=30)
    assert [layer["layer"] for layer in result] == [2] and len(result[0]["units"]) == 6  # all 6 of a smaller layer
    assert all(sorted(t["index"] for t in u["top"]) == list(range(30)) for u in result[0]["units"])


def test_layers_option():
    assert parse_layers(None, 3) == parse_layers("all", 3) == [1, 2, 3]
    assert parse_layers("3,1,1", 3) == [1, 3]
    for bad in ("0", "4", "1,x", ""):
        with pytest.raises(UserError, match="choose from 1 to 3"):
            parse_layers(bad, 3)


# --- the command on a tiny real run -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cnn_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", "data=digits", "model=cnn", "model.channels=[8,8]", "trainer.max_epochs=1",
                    "trainer.threads=1",
                    "--runs-dir", runs, "--name", "c", "--json")
    assert result.exit_code == 0, result.stderr
    return runs


def test_visualize_writes_the_png_and_the_json(cnn_runs):
    done = invoke("visualize", "c", "--runs-dir", cnn_runs, "--units", "3", "--top", "4", "--split", "dev", "--json")
    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    png = cnn_runs / "c" / "visualize-dev.png"
    assert result["picture"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["model"] == "cnn" and result["split"] == "dev" and result["input_shape"] == [1, 8, 8]
    layers = result["layers"]
    assert [(l["name"], l["receptive_field"], l["stride"]) for l in layers] == \
        [("features.0", [5, 5], [1, 1]), ("features.2", [14, 14], [2, 2])]
    # the activations, recomputed by a plain forward pass through the blocks (no hooks)
    from dltool.restore import restore

    setup, module = restore(cnn_runs / "c")
    x = setup.splits["dev"]["x"]
    with torch.no_grad():
        first = module.net.features[0](((x - module.mean) / module.std).reshape(len(x), 1, 8, 8))
    means = first.mean(dim=(0, 2, 3))
    assert [u["unit"] for u in layers[0]["units"]] == torch.argsort(means, descending=True)[:3].tolist()
    for unit in layers[0]["units"]:
        activations = [t["activation"] for t in unit["top"]]
        assert activations == sorted(activations, reverse=True) and len({t["index"] for t in unit["top"]}) == 4
        best = unit["top"][0]
        assert best["activation"] == pytest.approx(float(first[:, unit["unit"]].max()), abs=1e-5)
        assert float(first[best["index"], unit["unit"]][tuple(best["position"])]) == pytest.approx(best["activation"])
    text = invoke("visualize", "c", "--runs-dir", cnn_runs, "--layers", "2", "--units", "1", "--top", "2",
                  "--pick", "random", "-o", cnn_runs / "one.png")
    assert text.exit_code == 0, text.stderr
    assert "layer 2 (features.2, ConvBN): receptive field 14x14, stride 2x2" in text.stdout
    assert "random (seed 0)" in text.stdout and (cnn_runs / "one.png").is_file()


def one_line(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dltool: error: ") and fragment in lines[0], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args,fragment", [
    (("--layers", "3"), "the net has 2 conv layers"),
    (("--layers", "one"), "bad --layers 'one'"),
    (("--top", "0"), "--top must be an integer in [1, 50]"),
    (("--units", "0"), "--units must be an integer in [1, 64]"),
    (("--split", "valid"), "unknown split 'valid'; choose from: train, train_dev, dev, test"),
    (("--pick", "best"), "unknown --pick 'best'; choose from: mean, random"),
    (("-o", "out.jpg"), "ending in .png"),
    (("-o", "no-such-folder/out.png"), "no folder no-such-folder to write it in"),
])
def test_bad_options_are_one_line_and_write_nothing(cnn_runs, args, fragment):
    before = sorted(p.name for p in (cnn_runs / "c").iterdir())
    one_line(invoke("visualize", "c", "--runs-dir", cnn_runs, *args), fragment)
    assert sorted(p.name for p in (cnn_runs / "c").iterdir()) == before


def test_an_mlp_run_names_the_models_that_work(tmp_path):
    made = invoke("train", "data=digits", "model=mlp", "trainer.fast_dev_run=true", "trainer.threads=1",
                  "--runs-dir", tmp_path, "--name", "m", "--json")  # a debug run: one batch, a best checkpoint
    assert made.exit_code == 0, made.stderr
    one_line(invoke("visualize", tmp_path / "m"), "run m trained model mlp: the net has no conv layers to visualize "
             "(no net.features of conv blocks); models that have them: alexnet, cnn, cnn_paper, lenet, vgg, resnet, mobilenet")
    assert not list((tmp_path / "m").glob("visualize-*"))
    one_line(invoke("visualize", "nope", "--runs-dir", tmp_path), "nope")


def test_the_models_named_as_visualizable_are_the_registered_conv_nets():
    from dltool.models import _TASKS, create_model, model_names
    from dltool.models.layers import ConvNet
    from dltool.visualize import CONV_MODELS

    conv = {n for n in model_names() if "classify" in _TASKS[n] and not n.startswith("word_")  # of sentences
            and isinstance(create_model(n, (1, 8, 8), 10), ConvNet)}
    assert set(CONV_MODELS) == conv | {"yolo"}  # yolo: a detector on any of their backbones
