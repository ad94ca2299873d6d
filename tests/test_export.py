"""``dltool export``: a run's best weights as safetensors (or a plain state_dict), from real tiny training runs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import dltool
from tests.conftest import PERMISSIONS, invoke

@pytest.fixture
def copy(digits_runs, tmp_path):
    """A private copy of run r, without its export folder."""
    shutil.copytree(digits_runs / "r", tmp_path / "r", ignore=shutil.ignore_patterns("export"))
    return tmp_path


def best_state(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)


def files_in(folder) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_safetensors_hold_the_checkpoint_exactly_with_metadata(digits_runs):
    result = invoke("export", "r", "--runs-dir", digits_runs, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    path = digits_runs / "r" / "export" / "model.safetensors"
    assert out["path"] == str(path) and out["bytes"] == path.stat().st_size and out["format"] == "safetensors"
    checkpoint = best_state(digits_runs / "r")
    state = checkpoint["state_dict"]
    tensors = load_file(path)
    assert set(tensors) == set(state) and {"mean", "std"} <= set(tensors)  # normalization travels with the weights
    for key, value in state.items():
        assert tensors[key].dtype == value.dtype and torch.equal(tensors[key], value), key
    assert out["tensors"] == len(state)
    assert out["parameters"] == 64 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10  # buffers are not parameters
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["task"] == "classify" and json.loads(meta["info"]) == checkpoint["info"] == {"classes": [str(i) for i in range(10)]}
    assert meta["config"] == (digits_runs / "r" / "config.yaml").read_text()
    assert meta["run"] == "r" and meta["model"] == "mlp" and meta["dltool_version"] == dltool.__version__
    assert meta["epoch"] == str(checkpoint["epoch"])
    assert files_in(path.parent) == ["model.safetensors"]  # no temporary file left behind


def test_a_module_rebuilt_from_the_config_predicts_like_the_checkpoint(digits_runs):
    from dltool.config import compose
    from dltool.restore import predict, restore
    from dltool.train import build

    assert invoke("export", "r", "--runs-dir", digits_runs).exit_code == 0
    run_dir = digits_runs / "r"
    setup, module = restore(run_dir)
    rebuilt = build(compose([], config_file=run_dir / "config.yaml"))
    rebuilt.module.load_state_dict(load_file(run_dir / "export" / "model.safetensors"))  # strict: every key fits
    rebuilt.module.eval()
    x = setup.splits["test"]["x"]
    with torch.no_grad():
        assert torch.equal(rebuilt.module(x), module(x))
    assert (predict(rebuilt, x)["predicted"] == predict(setup, x)["predicted"]).all()


def test_pt_format_is_a_plain_state_dict_for_weights_only_loading(digits_runs, tmp_path):
    result = invoke("export", digits_runs / "r", "--format", "pt", "--output", tmp_path / "w.pt", "--json")
    assert result.exit_code == 0, result.stderr
    loaded = torch.load(tmp_path / "w.pt", weights_only=True)
    state = best_state(digits_runs / "r")["state_dict"]
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], v) for k, v in state.items())
    into_folder = invoke("export", "r", "--runs-dir", digits_runs, "--format", "pt", "-o", tmp_path, "--json")
    assert json.loads(into_folder.stdout)["path"] == str(tmp_path / "model.pt")


def test_the_report_names_the_file_and_its_size(digits_runs):
    result = invoke("export", "r", "--runs-dir", digits_runs)
    assert result.exit_code == 0, result.stderr
    size = (digits_runs / "r" / "export" / "model.safetensors").stat().st_size
    assert "17,610 parameters" in result.stdout and f"({size:,} bytes)" in result.stdout
    assert "export" in invoke("--help").stdout


def _no_checkpoint(run):
    shutil.rmtree(run / "checkpoints")


def _truncated(run):
    path = run / "checkpoints" / "best.ckpt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _another_model(run):  # a safe checkpoint whose weights do not fit the model its config names
    checkpoint = best_state(run)
    checkpoint["state_dict"]["net.head.weight"] = torch.zeros(3, 3)
    torch.save(checkpoint, run / "checkpoints" / "best.ckpt")


@pytest.mark.parametrize(
    "damage,args,message",
    [
        (None, ["r", "--format", "tflite"], "unknown --format 'tflite'; choose from: safetensors, pt, onnx"),
        (None, ["missing"], "run 'missing' not found in"),
        (_no_checkpoint, ["r"], "run r has no checkpoints/best.ckpt (status: completed)"),
        (_truncated, ["r"], "it is not a safe weights-only checkpoint or is damaged"),
        (_another_model, ["r"], "does not fit its model mlp: "),
        (None, ["r", "--output", "config.yaml/model.safetensors"], "config.yaml is not a folder"),
        (None, ["r", "--output", "checkpoints/best.ckpt"], "is inside the run folder"),
        (None, ["r", "--output", "metrics.json"], "is inside the run folder"),
        (None, ["r", "--output", "/dev/full"], "--output /dev/full is not a regular file"),
    ],
)
def test_mistakes_give_one_line_exit_2_and_no_file(copy, damage, args, message, monkeypatch):
    if damage:
        damage(copy / "r")
    monkeypatch.chdir(copy / "r")  # a relative --output lands in the run folder
    result = invoke("export", *args, "--runs-dir", copy)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not (copy / "r" / "export").exists()
    assert not list(copy.rglob("*.safetensors"))


def test_a_failed_write_keeps_the_previous_export_whole(copy, monkeypatch):
    assert invoke("export", "r", "--runs-dir", copy).exit_code == 0
    path = copy / "r" / "export" / "model.safetensors"
    before = path.read_bytes()

    def disk_full(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", disk_full)
    result = invoke("export", "r", "--runs-dir", copy)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"dltool: error: cannot write {path}: No space left on device"
    assert path.read_bytes() == before and files_in(path.parent) == ["model.safetensors"]


@pytest.mark.skipif(not PERMISSIONS, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_line(copy, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = invoke("export", "r", "--runs-dir", copy, "--output", folder / "m.safetensors")
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 2 and "Permission denied" in result.stderr and not files_in(folder)


def test_an_output_never_replaces_what_makes_a_run_or_a_study(copy, tmp_path):
    """--output inside a run folder (config.yaml, metrics.json, a checkpoint) or a study folder is refused, and
    the folder is left as it was; a path ending in / is a folder; a parent that is a file is one line."""
    import hashlib

    def digest(folder):
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}

    study = tmp_path / "study"
    study.mkdir()
    (study / "best.yaml").write_text("trial: 0\n")
    before = digest(copy), digest(study)
    for target in (copy / "r" / "config.yaml", copy / "r" / "metrics.json", copy / "r" / "checkpoints" / "best.ckpt",
                   copy / "r" / "checkpoints", study / "best.yaml"):
        result = invoke("export", "r", "--runs-dir", copy, "--output", target)
        assert result.exit_code == 2 and "is inside the" in result.stderr, (target, result.stderr)
    assert (digest(copy), digest(study)) == before
    folder = invoke("export", "r", "--runs-dir", copy, "--output", f"{tmp_path / 'new'}/", "--json")
    assert folder.exit_code == 0, folder.stderr
    assert json.loads(folder.stdout)["path"] == str(tmp_path / "new" / "model.safetensors")
    (tmp_path / "afile").write_text("")
    blocked = invoke("export", "r", "--runs-dir", copy, "--output", tmp_path / "afile" / "m.pt")
    assert blocked.exit_code == 2 and f"{tmp_path / 'afile'} is not a folder" in blocked.stderr
