"""What channels-last memory buys a training step of each 2-D conv net on the CPU (``trainer.channels_last=auto``).

For each net: images a second of one training step (forward, cross-entropy, backward, Adam), on batches of random
images of the net's data (scikit-learn's 8x8 digits' shape for the classifiers, 32x32 canvases for unet), with the
net and its inputs in contiguous memory and in channels-last memory. The two layouts alternate over --rounds rounds
of --steps steps (the first 5 of each round untimed) and each figure is the best round's median step, so that a
round slowed by other work on the machine does not decide a ratio.

Run from the repository root with the venv active:
    python bench/channels_last.py [--nets cnn,lenet,resnet,mobilenet,inception,alexnet,vgg,unet] [--threads 1]
        [--batch 100] [--steps 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from omegaconf import OmegaConf

from dltool.config import compose
from dltool.models import create_model, net_arguments

NETS = "cnn,lenet,resnet,mobilenet,inception,alexnet,vgg,unet"


def step_rate(name: str, channels_last: bool, batch: int, steps: int) -> float:
    """Images a second of one training step: the median of ``steps`` steps after 5 untimed ones."""
    segment = name == "unet"
    cfg = compose([f"model={name}", *(["task=segment", "data=canvas"] if segment else ["data=digits"])])
    shape, classes = ((1, 32, 32), 11) if segment else ((1, 8, 8), 10)
    torch.manual_seed(0)
    net = create_model(name, shape, classes, **net_arguments(OmegaConf.to_container(cfg.model, resolve=True)))
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch, *shape[1:]) if segment else (batch,))
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    times = []
    for _ in range(steps + 5):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    times = sorted(times[5:])
    return batch / times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=NETS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"{'net':10s} {'contiguous':>11s} {'channels-last':>14s}  images a second; ratio")
    for name in args.nets.split(","):
        best = {False: 0.0, True: 0.0}
        for _ in range(args.rounds):
            for layout in (False, True):
                best[layout] = max(best[layout], step_rate(name, layout, args.batch, args.steps))
        print(f"{name:10s} {best[False]:11.0f} {best[True]:14.0f}  x{best[True] / best[False]:.2f}", flush=True)


if __name__ == "__main__":
    main()
