"""Data parallelism: optimizer steps per second of one run in 1, 2, ... processes (trainer.devices=N, dltool.ddp).

Each setting is `dltool train` in processes of its own, on the same data (`data=synthetic`, --n examples of
--features numbers), model (`model=mlp`, --hidden units a layer), global batch (--batch) and seed, for --epochs
epochs; on the CPU every process gets its share of the cores (--threads each, default: the cores divided by the
processes, so that 1 process has them all). The rate is the training steps of the epochs after the first divided by
their seconds in history.csv (the first epoch pays for start-up), dev evaluation included, as a run spends it.

From the rates it prints the scaling (rate N / rate 1) and, for N = 2, the communication a step costs on this machine
(the time a step takes beyond half of one process's step, which is what perfect sharing would give), and the bytes a
step all-reduces (the gradients, float32). On a GPU node, run it with `--accelerator gpu --devices 1 2 4 8` and a
model large enough to keep a GPU busy (e.g. `--hidden 4096 --batch 4096 --n 400000`): what it should show is a
scaling close to N while the all-reduce of the gradients (NCCL, over NVLink or PCIe) stays small beside a step's
compute; where it does not, the step is too small for N devices (raise the global batch).

    python bench/ddp_scaling.py [--devices 1 2] [--n 60000] [--features 256] [--hidden 1024] [--batch 512]
                                [--epochs 4] [--accelerator cpu] [--threads T]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(devices: int, args, folder: Path) -> dict:
    cores = len(os.sched_getaffinity(0))
    threads = args.threads or max(1, cores // devices)
    name = f"p{devices}"
    command = [sys.executable, "-m", "dltool", "train", "data=synthetic", f"data.shape=[{args.features}]",
               f"data.n={args.n}", "model=mlp", f"model.hidden=[{args.hidden},{args.hidden}]",
               f"trainer.batch_size={args.batch}", f"trainer.max_epochs={args.epochs}", "trainer.baseline=false",
               f"trainer.devices={devices}", f"trainer.threads={threads}", f"trainer.accelerator={args.accelerator}",
               "--name", name, "--runs-dir", str(folder), "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{devices} processes failed: {done.stderr.strip().splitlines()[-1]}")
    result = json.loads(done.stdout)
    with open(folder / name / "history.csv", newline="") as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    n_train = result["splits"]["train"]["n"]
    steps = -(-n_train // args.batch)
    rate = steps * (len(seconds) - 1) / (seconds[-1] - seconds[0])
    return {"devices": devices, "threads": threads, "steps_per_s": rate, "dev_error": result["splits"]["dev"]["error"],
            "train_loss": result["splits"]["train"]["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [run(d, args, Path(folder)) for d in args.devices]
    base = rows[0]["steps_per_s"]
    print("| processes | threads each | steps/s | scaling | dev error | train loss |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['devices']} | {r['threads']} | {r['steps_per_s']:.1f} | {r['steps_per_s'] / base:.2f}x | "
              f"{r['dev_error']:.4f} | {r['train_loss']:.4f} |")
    params = args.features * args.hidden + args.hidden * args.hidden + args.hidden * 10 + 2 * args.hidden + 10
    print(f"\ngradients all-reduced a step: {params:,} float32 = {params * 4 / 2**20:.1f} MiB")
    two = next((r for r in rows if r["devices"] == 2), None)
    if two is not None and rows[0]["devices"] == 1:
        extra = 1 / two["steps_per_s"] - 1 / (2 * base)
        print(f"2 processes: a step takes {1e3 / two['steps_per_s']:.2f} ms against {1e3 / base:.2f} ms in one; "
              f"{1e3 * extra:.2f} ms beyond half of it (communication and what does not shrink with the shard)")


if __name__ == "__main__":
    main()
