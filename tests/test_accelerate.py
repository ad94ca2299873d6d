"""The GPU switches (fused optimizer step, channels-last convolutions, data resident on the device), checked on the CPU
where PyTorch runs them too, and on a GPU by the ``gpu``-marked test (``pytest -m gpu`` on a machine with CUDA)."""

from __future__ import annotations

import json

import pytest
import torch

from dltool.config import compose
from dltool.train import build, train

DIGITS = ["data=digits", "trainer.max_epochs=3"]


def run(tmp_path, *overrides, name):
    return train(compose([*DIGITS, *overrides]), runs_dir=tmp_path, name=name, progress=False)


def test_auto_on_the_cpu_leaves_the_fused_step_off_and_puts_conv_nets_on_images_in_channels_last():
    s = build(compose([*DIGITS, "model=cnn"]))
    assert s.trainer["fused"] is False and s.trainer["channels_last"] is True
    assert s.optimizer.defaults.get("fused") in (None, False)
    kernels = [m.weight for m in s.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    assert s.splits["train"]["x"].is_contiguous(memory_format=torch.channels_last)
    mlp = build(compose(DIGITS))  # no 2-D convolutions: nothing to lay out
    assert mlp.trainer["channels_last"] is False and all(p.is_contiguous() for p in mlp.module.parameters())


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "sgd"])
def test_a_fused_step_trains_as_the_plain_one(tmp_path, optimizer):
    plain = run(tmp_path, f"optimizer={optimizer}", "trainer.fused=false", name=f"plain-{optimizer}")
    fused = run(tmp_path, f"optimizer={optimizer}", "trainer.fused=true", name=f"fused-{optimizer}")
    assert json.loads((tmp_path / f"fused-{optimizer}" / "process.json").read_text())["fused"] is True
    for split in ("train", "dev", "test"):
        assert fused["splits"][split]["loss"] == pytest.approx(plain["splits"][split]["loss"], rel=1e-4)
        assert fused["splits"][split]["error"] == pytest.approx(plain["splits"][split]["error"], abs=1 / 180)


def test_channels_last_puts_kernels_and_images_in_that_layout_and_trains_alike(tmp_path):
    s = build(compose([*DIGITS, "model=cnn", "trainer.channels_last=true"]))
    kernels = [m.weight for m in s.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) for w in kernels)
    assert s.splits["train"]["x"].is_contiguous(memory_format=torch.channels_last)
    plain = run(tmp_path, "model=cnn", "trainer.channels_last=false", name="plain")
    last = run(tmp_path, "model=cnn", "trainer.channels_last=true", name="last")
    for split in ("train", "dev", "test"):
        assert last["splits"][split]["loss"] == pytest.approx(plain["splits"][split]["loss"], rel=1e-3)


def test_bf16_runs_its_steps_in_bfloat16_and_keeps_float32_weights(tmp_path, monkeypatch):
    """trainer.precision=bf16 is bf16 inside the training and the evaluation steps (Fabric's autocast), so its numbers
    differ from float32's; the weights it saves stay float32 (mixed precision keeps a float32 master copy)."""
    import dltool.train as training

    seen = []
    build = training.build

    def watched(cfg, **kw):
        s = build(cfg, **kw)
        for m in s.module.net.modules():
            if isinstance(m, torch.nn.Linear):
                m.register_forward_hook(lambda mod, args, out: seen.append((mod.training, out.dtype)))
        return s

    fp32 = run(tmp_path, name="fp32")
    monkeypatch.setattr(training, "build", watched)
    bf16 = run(tmp_path, "trainer.precision=bf16", name="bf16")
    assert set(seen) == {(True, torch.bfloat16), (False, torch.bfloat16)}  # training steps and dev/test passes
    assert bf16["status"] == "completed" and bf16["splits"]["test"]["error"] < 0.5
    assert bf16["splits"]["train"]["loss"] != fp32["splits"]["train"]["loss"]
    best = torch.load(tmp_path / "bf16" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert {v.dtype for k, v in best.items() if k.startswith("net.")} == {torch.float32}


def test_a_fused_step_is_the_one_the_optimizer_takes():
    fused = build(compose([*DIGITS, "trainer.fused=true"])).optimizer
    assert fused.defaults["fused"] is True
    assert build(compose([*DIGITS, "trainer.fused=false"])).optimizer.defaults.get("fused") in (None, False)


def test_the_gpu_path_all_at_once_on_the_cpu(tmp_path):
    """bf16 mixed precision, channels-last and the fused step together, forced on the CPU (where PyTorch runs them):
    the run trains, keeps float32 weights in its checkpoint, and evaluates and exports like any other run."""
    from dltool.restore import restore
    from dltool.export import export_run

    on = ["model=resnet", "trainer.precision=bf16", "trainer.channels_last=true", "trainer.fused=true"]
    result = run(tmp_path, *on, name="all")
    assert result["status"] == "completed" and result["splits"]["test"]["error"] < 0.2  # chance: 0.9
    best = torch.load(tmp_path / "all" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert all(v.dtype in (torch.float32, torch.int64) for v in best.values())
    setup, module = restore(tmp_path / "all")
    assert setup.trainer["channels_last"] and setup.trainer["fused"]
    assert export_run(tmp_path / "all")["tensors"] == len(best)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_auto_turns_everything_on_and_bf16_trains(tmp_path):
    s = build(compose([*DIGITS, "model=resnet", "trainer.precision=bf16"]))
    assert s.fabric.device.type == "cuda" and s.trainer["fused"] and s.trainer["channels_last"]
    assert all(v["x"].device.type == "cuda" for v in s.splits.values())  # the data lives on the GPU
    result = run(tmp_path, "model=resnet", "trainer.precision=bf16", name="gpu")
    assert result["status"] == "completed" and result["splits"]["test"]["error"] < 0.5
    assert json.loads((tmp_path / "gpu" / "process.json").read_text())["device"].startswith("cuda")


def test_one_process_calls_backward_and_the_optimizer_past_fabrics_wrappers():
    """loop.plain_steps: loss.backward() and the optimizer's own step in one process without a loss scaler; Fabric's
    where its strategy or precision does more (a GradScaler scales the loss and unscales the gradients)."""
    from lightning_fabric import Fabric
    from lightning_fabric.plugins.precision.amp import MixedPrecision

    from dltool.loop import plain_steps

    def wrapped(fabric):
        return fabric.setup(torch.nn.Linear(2, 2), torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1))[1]

    for precision in ("32-true", "bf16-mixed"):
        fabric = Fabric(accelerator="cpu", devices=1, precision=precision)
        optimizer = wrapped(fabric)
        backward, step, zero_grad = plain_steps(fabric, optimizer)
        assert backward != fabric.backward and (step, zero_grad) == (optimizer.optimizer.step, optimizer.optimizer.zero_grad)
    scaled = Fabric(accelerator="cpu", devices=1, plugins=[MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))])
    optimizer = wrapped(scaled)
    assert plain_steps(scaled, optimizer) == (scaled.backward, optimizer.step, optimizer.zero_grad)


@pytest.mark.parametrize("precision", ["32", "bf16"])
def test_the_direct_steps_train_to_the_numbers_of_fabrics_wrappers(tmp_path, monkeypatch, precision):
    import dltool.loop as loop

    direct = run(tmp_path, f"trainer.precision={precision}", name="direct")
    monkeypatch.setattr(loop, "plain_steps", lambda fabric, optimizer: (fabric.backward, optimizer.step,
                                                                       optimizer.zero_grad))
    through = run(tmp_path, f"trainer.precision={precision}", name="fabric")

    def history(name):
        return [line.rsplit(",", 1)[0] for line in (tmp_path / name / "history.csv").read_text().splitlines()]

    assert history("direct") == history("fabric")  # every epoch's losses and dev error, all but the seconds
    assert direct["splits"] == through["splits"]
