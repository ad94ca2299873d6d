"""Training steps per second on a GPU: dltool against a plain PyTorch loop, same GPU, same data, same batch size. Two models: a ResNet-style CNN on 3x32x32 images and the MLP on 40 features (MNIST-1D's shape), both on
`data=synthetic` (random inputs, labels from a random linear teacher; no download).

(a) plain loop: bench/hand_loop.train_by_hand over the same net, the data already on the GPU (standardized once),
    bf16 autocast, fused Adam, channels-last kernels and images for the CNN: what a careful hand-written loop does.
(b) dltool: dltool.train.fit as `dltool train` runs it (Fabric, bf16-mixed, trainer.fused=auto and
    trainer.channels_last=auto, history, best and last checkpoints, one dev pass an epoch), into a temporary folder.
Each is warmed up for one epoch (cuDNN autotuning, allocator) and then timed over --epochs epochs, with one dev pass an
epoch in both. Steps per second = optimizer steps / seconds.

    python bench/gpu_throughput.py [--epochs 3] [--batch 256] [--n 60000] [--precision bf16]
    python bench/gpu_throughput.py --quick    # a smoke run that also works on the CPU
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from hand_loop import train_by_hand  # noqa: E402

from dltool.config import compose  # noqa: E402
from dltool.loop import fit  # noqa: E402
from dltool.train import build  # noqa: E402

MODELS = {"resnet": ["model=resnet", "data.shape=[3,32,32]"], "mlp": ["model=mlp", "data.shape=[40]"]}


def config(model: str, args, epochs: int) -> list[str]:
    return [*MODELS[model], "data=synthetic", f"data.n={args.n}", f"trainer.batch_size={args.batch}",
            f"trainer.max_epochs={epochs}", f"trainer.precision={args.precision}", "trainer.accelerator=auto"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps(s, epochs: int) -> int:
    return epochs * math.ceil(len(s.splits["train"]["y"]) / s.trainer["batch_size"])


def plain(model: str, args) -> tuple[float, int, object]:
    """(a): returns seconds, optimizer steps and the device."""
    s = build(compose(config(model, args, args.epochs)))
    device = s.fabric.device
    net = s.module.net.to(device)
    mean, std = s.module.mean.to(device), s.module.std.to(device)
    (x, y), (x_dev, y_dev) = ((s.splits[k]["x"], s.splits[k]["y"]) for k in ("train", "dev"))
    x, x_dev = (x - mean) / std, (x_dev - mean) / std
    if model == "resnet" and device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
        x, x_dev = (t.contiguous(memory_format=torch.channels_last) for t in (x, x_dev))
    o = s.cfg.optimizer
    opt = torch.optim.Adam(net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                           fused=device.type == "cuda")
    bf16 = args.precision == "bf16"
    train_by_hand(net, opt, x, y, x_dev, y_dev, 1, args.batch, s.seed, bf16)  # warm-up
    sync(device)
    start = time.perf_counter()
    train_by_hand(net, opt, x, y, x_dev, y_dev, args.epochs, args.batch, s.seed, bf16)
    sync(device)
    return time.perf_counter() - start, steps(s, args.epochs), device


def dltool(model: str, args) -> tuple[float, int, dict]:
    """(b): returns seconds, optimizer steps and the switches dltool chose."""
    def once(epochs: int) -> tuple[float, object]:
        s = build(compose(config(model, args, epochs)))
        net, opt = s.fabric.setup(s.module, s.optimizer)
        with tempfile.TemporaryDirectory() as tmp:
            sync(s.fabric.device)
            start = time.perf_counter()
            fit(s.fabric, net, s.module, opt, s.scheduler, s.splits, s.trainer, s.seed, Path(tmp),
                saved={"config": {}, "info": s.data.info}, progress=False)
            sync(s.fabric.device)
            return time.perf_counter() - start, s

    once(1)  # warm-up: the same kernels, autotuned once per process
    seconds, s = once(args.epochs)
    return seconds, steps(s, args.epochs), {k: s.trainer[k] for k in ("fused", "channels_last", "precision")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--n", type=int, default=60000, help="examples in all; 60%% train")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "32"])
    parser.add_argument("--models", default="resnet,mlp")
    parser.add_argument("--quick", action="store_true", help="1 epoch of 2,000 examples: a smoke run, CPU included")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.n = 1, 2000
        if not torch.cuda.is_available():
            args.precision = "32"
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU: CPU"
    print(f"{card}; torch {torch.__version__}; batch {args.batch}, {args.epochs} timed epochs after 1 warm-up, "
          f"precision {args.precision}, n {args.n}")
    print(f"  {'model':8s} {'plain steps/s':>14s} {'dltool steps/s':>15s} {'ratio':>6s}  dltool's switches")
    for model in args.models.split(","):
        a_seconds, a_steps, _ = plain(model, args)
        b_seconds, b_steps, switches = dltool(model, args)
        a, b = a_steps / a_seconds, b_steps / b_seconds
        print(f"  {model:8s} {a:14.1f} {b:15.1f} {b / a:6.2f}  {switches}")


if __name__ == "__main__":
    main()
