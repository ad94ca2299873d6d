"""``dltool export --format onnx``: every model family as its task runs it, in onnxruntime at two batch sizes, against
torch; and a real tiny run exported from the command line predicts as dltool does."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import torch

from dltool.export import NOT_ONNX, onnx_module, write_onnx
from dltool.models import _TASKS, create_model, model_names
from dltool.tasks import task_class
from tests.conftest import invoke

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

# float32 through different kernels (onnxruntime's and torch's): the largest difference seen was 3e-6 (unet);
# seq2seq's -inf (tokens outside the target vocabulary) must be -inf in both
ATOL, RTOL = 1e-4, 1e-4
VOCABULARY = [f"t{i}" for i in range(10)]
TOKENS = {"pad": 0, "start": 1, "end": 2}
CASES = {  # task -> (info, example shape, token ids?)
    "classify": ({"classes": list("abcd")}, (1, 8, 8), False),
    "multilabel": ({"classes": list("abcd")}, (1, 8, 8), False),
    "verify": ({"classes": list("abcd")}, (1, 8, 8), False),
    "segment": ({"classes": list("abc")}, (1, 8, 8), False),
    "detect": ({"classes": list("ab"), "anchors": [[2.0, 2.0], [4.0, 3.0]]}, (1, 16, 16), False),
    "lm": ({"classes": VOCABULARY, "tokens": TOKENS}, (12,), True),
    "seq2seq": ({"classes": VOCABULARY, "tokens": TOKENS, "target_vocabulary": VOCABULARY[3:8], "target_length": 5},
                (12,), True),
    "ctc": ({"classes": list("abc"), "blank": 0, "pad": -1}, (40,), False),
    "tag": ({"classes": ["O", "B-PER", "I-PER"], "words": VOCABULARY, "vocabulary": VOCABULARY[:6],
             "shapes": ["<pad>", *"abcdef"]}, (12, 2), True),
    "embed": ({"classes": VOCABULARY, "window": 2, "sample": 0.0, "train_counts": [1] * 10, "sampling_seed": 0},
              (12,), True),  # a row of word ids -> their vectors (B, T, d)
}
SENTENCES = ({"classes": list("ab"), "vocabulary": VOCABULARY}, (12,), True)  # classify, of word ids (word_*)
TASK_ARGS = {"detect": {"anchors": 2}, "verify": {"dim": 6}}


def _cases():
    for name in model_names():
        yield name, _TASKS[name][0], {}
    yield "cnn", "verify", {}  # the L2-normalized embedding
    yield "mlp", "multilabel", {}
    yield "mobilenet", "classify", {"compound": 1.0}  # the input resampled first (EfficientNet's resolution)
    yield "attention_rnn", "seq2seq", {"cell": "gru"}  # its GRUCell, like the LSTMCell, is spelled out (explicit_cell)


def build(name: str, task: str, kwargs: dict | None = None):
    """A freshly built net of ``name`` inside its task, with non-trivial normalization, in eval mode."""
    if task not in CASES:
        pytest.skip(f"no ONNX case for task {task} yet")
    info, shape, tokens = SENTENCES if name.startswith("word_") else CASES[task]
    cls = task_class(task)
    args = {"objective": name} if task == "embed" else TASK_ARGS.get(task, {})  # skipgram or glove: the net's own
    torch.manual_seed(0)
    net = create_model(name, shape, cls.outputs(info, **args), **(kwargs or {}))
    mean = torch.zeros(shape) if tokens else torch.randn(shape)
    std = torch.ones(shape) if tokens else torch.rand(shape) + 0.5
    return cls(net, info, mean, std, {}, {}, 1, **args).eval(), shape, tokens


def batch(module, shape, tokens, n: int) -> dict:
    g = torch.Generator().manual_seed(n)
    if not tokens:
        return {"x": torch.randn(n, *shape, generator=g)}
    x = {"x": torch.randint(1, len(VOCABULARY), (n, *shape), generator=g)}
    x["x"][torch.arange(shape[0]) >= torch.randint(1, shape[0] + 1, (n, 1), generator=g)] = TOKENS["pad"]  # padded
    if module.name == "tag":  # shape ids within the shapes
        x["x"][..., 1] %= len(module.info["shapes"])
    if module.name == "seq2seq":
        x["y_in"] = torch.randint(1, len(VOCABULARY), (n, module.info["target_length"]), generator=g)
    return x


def torch_outputs(module, inputs: dict) -> np.ndarray:
    with torch.no_grad():
        if module.name == "seq2seq":
            return module.scores(inputs["x"], inputs["y_in"]).numpy()
        return module(inputs["x"]).numpy()


@pytest.mark.parametrize("name,task,kwargs", [pytest.param(*c, id="-".join([c[0], c[1], *map(str, c[2].values())]))
                                              for c in _cases()])
def test_every_family_exports_with_a_dynamic_batch_and_computes_what_torch_does(name, task, kwargs, tmp_path):
    module, shape, tokens = build(name, task, kwargs)
    path = tmp_path / "m.onnx"
    write_onnx(onnx_module(module).eval(), path, {"task": task})
    model = onnx.load(str(path))
    assert {p.key: p.value for p in model.metadata_props} == {"task": task}
    assert all(i.type.tensor_type.shape.dim[0].dim_param == "batch" for i in model.graph.input)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5):  # the example it was traced with had 2
        inputs = batch(module, shape, tokens, n)
        expected = torch_outputs(module, inputs)
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        assert got.shape == expected.shape and got.shape[0] == n
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    if task == "verify":
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, rtol=1e-5)


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    """A tiny real run (digits, MLP, one epoch) exported from the command line as ONNX."""
    runs = tmp_path_factory.mktemp("onnx_runs")
    trained = invoke("train", "data=digits", "trainer.max_epochs=1", "--runs-dir", runs, "--name", "r", "--json")
    assert trained.exit_code == 0, trained.stderr
    result = invoke("export", "r", "--runs-dir", runs, "--format", "onnx", "--json")
    assert result.exit_code == 0, result.stderr
    return runs, json.loads(result.stdout)


def test_an_exported_run_predicts_in_onnxruntime_as_dltool_does(onnx_run):
    from dltool.restore import predict, restore

    runs, out = onnx_run
    path = runs / "r" / "export" / "model.onnx"
    assert out["path"] == str(path) and out["format"] == "onnx" and out["bytes"] == path.stat().st_size
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temporary file left
    setup, module = restore(runs / "r")
    x = setup.splits["test"]["x"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        expected = module(x).numpy()
    assert logits.shape == (len(x), 10)
    print(f"max |onnx - torch| on {len(x)} test examples: {np.abs(logits - expected).max():.2e}; "
          f"{path.stat().st_size:,} bytes")
    np.testing.assert_allclose(logits, expected, rtol=RTOL, atol=ATOL)
    assert (logits.argmax(1) == predict(setup, x)["predicted"]).all()
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["task"] == "classify" and meta["model"] == "mlp" and meta["run"] == "r"
    assert json.loads(meta["info"]) == {"classes": [str(i) for i in range(10)]}
    assert meta["config"] == (runs / "r" / "config.yaml").read_text()


def test_a_refused_model_is_one_line_and_writes_nothing(onnx_run, tmp_path, monkeypatch):
    runs, _ = onnx_run
    shutil.copytree(runs / "r", tmp_path / "r", ignore=shutil.ignore_patterns("export"))
    monkeypatch.setitem(NOT_ONNX, "mlp", "a reason")
    result = invoke("export", "r", "--runs-dir", tmp_path, "--format", "onnx")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "dltool: error: model mlp cannot be exported as onnx: a reason; use --format safetensors"]
    assert not (tmp_path / "r" / "export").exists()


def test_without_the_extra_it_is_one_line_naming_the_pip_command(onnx_run, tmp_path, monkeypatch):
    import importlib.util

    runs, _ = onnx_run
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    started = time.monotonic()
    result = invoke("export", "r", "--runs-dir", runs, "--format", "onnx", "--output", tmp_path / "m.onnx")
    assert result.exit_code == 2 and time.monotonic() - started < 5  # refused before anything is read
    assert result.stderr.strip().splitlines() == [
        "dltool: error: --format onnx needs onnxruntime: pip install 'dltool[onnx]'"]
    assert not (tmp_path / "m.onnx").exists()


def test_a_verify_run_exports_its_embedding_and_threshold(tmp_path):
    """A hand-made task=verify run (no training): the graph is the unit-length embedding, and the threshold it is
    compared at, a buffer of the task and not of the graph, travels in the metadata."""
    import yaml

    from dltool.export import export_run

    module, shape, _ = build("mlp", "verify")
    module.threshold.fill_(0.75)
    run = tmp_path / "v"
    (run / "checkpoints").mkdir(parents=True)
    config = {"task": {"name": "verify", "dim": 6}, "model": {"name": "mlp"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"state_dict": module.state_dict(), "info": module.info, "config": config, "epoch": 3},
               run / "checkpoints" / "best.ckpt")
    out = export_run(run, "onnx")
    model = onnx.load(out["path"])
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == "verify" and json.loads(meta["threshold"]) == 0.75 and meta["epoch"] == "3"
    x = batch(module, shape, False, 4)["x"]
    got = ort.InferenceSession(out["path"], providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, torch_outputs(module, {"x": x}), rtol=RTOL, atol=ATOL)
