"""How much dltool costs over plain PyTorch: CLI start-up, and the training phase of the default config.

Measures (medians; CPU only):
  1. start-up: `dltool --help` against `python -c pass`, each run as a subprocess ~5 times;
  2. training: the default config (MLP 40->100->100->10 on MNIST-1D, Adam lr 0.01, batch 100) for N epochs with
     the same seed and data, timed as (a) a hand-written PyTorch loop, (b) dltool.train.fit (history and checkpoint
     writes included, as in a real run) and (c) pytorch_lightning.Trainer over in-memory batches, for reference.
     Set-up (data, model, Fabric/Trainer construction) is outside the timings; each loop does one dev pass per epoch.

Run from the repository root with the venv active (DLTOOL_CACHE set so MNIST-1D is cached):
    python bench/train_overhead.py [--epochs 20] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from dltool.config import compose
from dltool.loop import evaluate, fit
from dltool.train import build
from hand_loop import train_by_hand  # bench/hand_loop.py: the baseline loop, shared with tune_overhead.py


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def startup_ms(argv: list[str], runs: int = 5) -> float:
    """Median wall time of running ``argv`` as a subprocess."""
    def run():
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return 1000 * statistics.median(timed(run)[0] for _ in range(runs))


def setup(epochs: int):
    return build(compose([f"trainer.max_epochs={epochs}"]))


def plain_loop(epochs: int):
    """(a) A hand-written loop over dltool's own net, standardized tensors and seed; returns seconds, dev error."""
    s = setup(epochs)
    net, mean, std, o = s.module.net, s.module.mean, s.module.std, s.cfg.optimizer
    (x, y), (x_dev, y_dev) = ((s.splits[k]["x"], s.splits[k]["y"]) for k in ("train", "dev"))
    x, x_dev = (x - mean) / std, (x_dev - mean) / std
    opt = torch.optim.Adam(net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    batch = s.trainer["batch_size"]

    def run():
        return train_by_hand(net, opt, x, y, x_dev, y_dev, epochs, batch, s.seed)[-1]

    return timed(run)


def dltool_loop(epochs: int):
    """(b) dltool.train.fit, as `dltool train` calls it, into a fresh temporary run folder."""
    s = setup(epochs)
    model, opt = s.fabric.setup(s.module, s.optimizer)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        saved = {"config": {}, "info": s.data.info}
        seconds, _ = timed(lambda: fit(s.fabric, model, s.module, opt, s.scheduler, s.splits, s.trainer, s.seed,
                                       run_dir, saved=saved, progress=False))
    return seconds, evaluate(model, s.splits["dev"], s.fabric)["error"]


class Batches:
    """In-memory mini-batches, reshuffled each epoch like (a) and (b). Not a list: Lightning takes a list of
    batches for a list of dataloaders."""

    def __init__(self, arrays: dict, batch: int, seed: int | None = None):
        self.arrays, self.y, self.batch = arrays, arrays["y"], batch
        self.shuffle = None if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch)

    def __iter__(self):
        # A generator: Lightning calls iter() once to check the loader, which must not draw a permutation.
        n = len(self.y)
        perm = torch.arange(n) if self.shuffle is None else torch.randperm(n, generator=self.shuffle)
        for lo in range(0, n, self.batch):
            idx = perm[lo:lo + self.batch]
            yield {k: v[idx] for k, v in self.arrays.items()}


def lightning_loop(epochs: int):
    """(c) pytorch_lightning.Trainer on the same module and tensors; no logger, checkpoints, bar or sanity check."""
    import pytorch_lightning as pl

    s = setup(epochs)
    train = Batches(s.splits["train"], s.trainer["batch_size"], s.seed)
    dev = Batches(s.splits["dev"], len(s.splits["dev"]["y"]))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, max_epochs=epochs,
                         accelerator="cpu", devices=1)
    seconds, _ = timed(lambda: trainer.fit(s.module, train_dataloaders=train, val_dataloaders=dev))
    return seconds, evaluate(s.module, s.splits["dev"], s.fabric)["error"]


def median_run(loop, epochs: int, repeats: int) -> tuple[float, float]:
    runs = [loop(epochs) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def quiet_lightning() -> None:
    import pytorch_lightning  # noqa: F401  (its import sets its loggers to INFO)

    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_lightning()
    print(f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}, "
          f"epochs {args.epochs}, repeats {args.repeats}")

    python_ms = startup_ms([sys.executable, "-c", "pass"])
    dltool_ms = startup_ms([str(Path(sys.executable).with_name("dltool")), "--help"])
    print("\nstart-up (median of 5)")
    print(f"  python -c pass   {python_ms:8.0f} ms")
    print(f"  dltool --help    {dltool_ms:8.0f} ms   (+{dltool_ms - python_ms:.0f} ms)")

    loops = {"a  plain PyTorch": plain_loop, "b  dltool fit": dltool_loop, "c  Lightning Trainer": lightning_loop}
    for loop in loops.values():  # warm-up, untimed: data cache, lazy imports, the first optimizer step (seconds)
        loop(1)
    results = {name: median_run(loop, args.epochs, args.repeats) for name, loop in loops.items()}
    base = results["a  plain PyTorch"][0]
    print(f"\ntraining, {args.epochs} epochs (median of {args.repeats})")
    for name, (seconds, error) in results.items():
        print(f"  {name:22s} {seconds:8.3f} s   x{seconds / base:5.2f}   final dev error {error:.4f}")


if __name__ == "__main__":
    main()
