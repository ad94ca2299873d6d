"""The MNIST-1D paper's own training protocol in a plain PyTorch loop: what its table's numbers can be expected to be.

dltool's reproduction (bench/mnist1d_table.py) trains on 3,500 examples and keeps the checkpoint with the best *dev*
error. The paper's notebooks instead train on the package's 4,000 examples with raw (unstandardized) inputs, take the
mini-batches in a fixed order (batch k = examples 100k .. 100k+99, wrapping around), run Adam lr 0.01 for 6,000 steps,
and measure accuracy on the 1,000 *test* examples every 250 steps. This script does exactly that with dltool's
models of the paper's architectures (`experiment=paper_*`'s models, PyTorch's default initialization), for several
seeds, and prints for each row:
  - best: the highest test accuracy seen during training (early stopping on the test set, the most it can report);
  - last: the test accuracy after the last step.
The shuffled rows permute the 40 positions with the notebook's permutation (NumPy seed 42).

Run from the repository root with the venv active (DLTOOL_CACHE set so MNIST-1D is cached):
    python bench/mnist1d_paper_protocol.py [--seeds 0 1 2] [--only logistic mlp cnn gru] [--steps 6000] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from mnist1d_table import FAMILIES, LABELS, PAPER, mean_std, print_table

# dltool's model (registry name and arguments) of each of the paper's architectures; conf/experiment/paper_*.yaml.
MODELS = {
    "logistic": ("mlp", {"hidden": [], "init": "torch"}),
    "mlp": ("mlp", {"hidden": [100, 100], "residual": True, "init": "torch"}),
    "cnn": ("cnn_paper", {}),
    "gru": ("gru_paper", {}),
}
TRAIN, BATCH, LR, EVAL_EVERY = 4000, 100, 0.01, 250


def paper_data(shuffled: bool) -> tuple[torch.Tensor, ...]:
    """The package's own split: its first 4,000 examples train, its last 1,000 test; raw inputs."""
    from dltool.data.mnist1d import generate

    x, y = generate({})  # the package's defaults, its train part then its test part
    if shuffled:
        x = x[:, np.random.RandomState(42).permutation(x.shape[1])]
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


def accuracy(net, x, y) -> float:
    net.eval()
    with torch.no_grad():
        acc = 100 * (net(x).argmax(dim=1) == y).float().mean().item()
    net.train()
    return acc


def train_paper_way(family: str, data: tuple[torch.Tensor, ...], seed: int, steps: int) -> list[float]:
    """The test accuracies at steps 0, 250, 500, ..., steps."""
    from dltool.models import create_model

    x, y, x_test, y_test = data
    torch.manual_seed(seed)
    name, kwargs = MODELS[family]
    net = create_model(name, tuple(x.shape[1:]), 10, **kwargs)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    accs = []
    for step in range(steps + 1):
        lo = (step * BATCH) % len(x)
        loss = F.cross_entropy(net(x[lo:lo + BATCH]), y[lo:lo + BATCH])
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % EVAL_EVERY == 0:
            accs.append(accuracy(net, x_test, y_test))
    return accs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    p.add_argument("--steps", type=int, default=6000, help="training steps (the paper: 6,000, 150 epochs)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    rows, start = [], time.perf_counter()
    for variant in ("plain", "shuffled"):
        data = paper_data(variant == "shuffled")
        for family in (f for f in FAMILIES if f in args.only):
            best, last = [], []
            for seed in args.seeds:
                accs = train_paper_way(family, data, seed, args.steps)
                best.append(max(accs))
                last.append(accs[-1])
            m, s = PAPER[variant][family]
            name = LABELS[family] + (", shuffled" if variant == "shuffled" else "")
            rows.append([name, f"{m} +- {s}", mean_std(best), mean_std(last)])
            print(f"  {name}: best {best}, last {last}", flush=True)
    print(f"MNIST-1D test accuracy (%), the paper's protocol in a plain loop; seeds {' '.join(map(str, args.seeds))}, "
          f"{args.steps} steps, test accuracy every {EVAL_EVERY} steps")
    print_table(["model", "paper", "best on test", "last step"], rows)
    print(f"total wall time {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
