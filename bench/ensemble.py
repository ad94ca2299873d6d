"""The course's competition tricks measured (README, ``dltool evaluate``): an ensemble of the default MNIST-1D MLP
over seeds against its members, and multi-crop test-time augmentation on a CNN trained with shifts, on the test split.

Run from the repository root with the venv active:
    python bench/ensemble.py [--runs-dir build/bench-ensemble] [--seeds 0,1,2] [--cnn-epochs 20] [--views 1,3,5,9] [--threads 1]

Trains what ``--runs-dir`` lacks (``dltool train``, every run on the split of seed 0: ``data.split.seed=0``; the
members differ in their init seed only), then prints one Markdown row per figure: test error, latency per example at
batch size 1 and batched, and their multiples of the single model's. Latencies are dltool evaluate's medians, timed
on ``--threads`` threads (trainer.threads); they move with the machine's load, batch-1 figures most.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def dltool(*args) -> dict:
    out = subprocess.run([sys.executable, "-m", "dltool", *map(str, args), "--json"], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def trained(runs: Path, name: str, *overrides) -> str:
    if not (runs / name / "metrics.json").is_file():
        dltool("train", *overrides, "data.split.seed=0", "--runs-dir", runs, "--name", name)
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("build/bench-ensemble"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cnn-epochs", type=int, default=20)
    parser.add_argument("--views", default="1,3,5,9")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = args.runs_dir
    threads = f"trainer.threads={args.threads}"

    def cost(part):
        return (f"{part['latency_ms_per_example']:.4f} | {part['latency_multiplier']:.1f} | "
                f"{part['latency_ms_per_example_batched']:.5f} | {part['latency_multiplier_batched']:.1f}")

    print("| what | test error | ms / example, batch 1 | x | ms / example, batched | x |")
    print("|---|---|---|---|---|---|")
    mlps = [trained(runs, f"mlp-seed{s}", f"seed={s}") for s in seeds]
    r = dltool("evaluate", mlps[0], threads, *(a for m in mlps[1:] for a in ("--ensemble", m)), "--runs-dir", runs)
    e = r["ensemble"]
    for name, value, ms in zip(e["members"], e["member_values"], e["member_latency_ms"]):
        print(f"| MLP {name} | {value:.4f} | {ms:.4f} | | | |")
    print(f"| ensemble of {len(mlps)} MLPs (best single {e['best_member_value']:.4f}) | {e['value']:.4f} | {cost(e)} |")
    r = dltool("evaluate", mlps[0], threads, *(a for m in mlps[1:] for a in ("--ensemble", m)), "--tta", 5,
               "--runs-dir", runs)  # trained without shifts: the default shift (2 of 40 steps)
    t, e = r["tta"], r["ensemble"]
    print(f"| MLP {mlps[0]}, 5 views {[o[0] for o in t['offsets']]} (no shifts in training) | {t['value']:.4f} | "
          f"{cost(t)} |")
    print(f"| ensemble of {len(mlps)} MLPs x 5 views | {e['value']:.4f} | {cost(e)} |")

    cnns = [trained(runs, f"cnn-shift4-seed{s}", "model=cnn", "data.augment.shift=4",
                    f"trainer.max_epochs={args.cnn_epochs}", f"seed={s}") for s in seeds]
    for views in (int(v) for v in args.views.split(",")):
        r = dltool("evaluate", cnns[0], threads, "--tta", views, "--runs-dir", runs)
        t = r["tta"]
        label = "no TTA" if views == 1 else f"{views} views {[o[0] for o in t['offsets']]}"
        print(f"| CNN (shift 4) {cnns[0]}, {label} | {t['value']:.4f} | {cost(t)} |")
    best = max(int(v) for v in args.views.split(","))
    r = dltool("evaluate", cnns[0], threads, *(a for m in cnns[1:] for a in ("--ensemble", m)), "--tta", best,
               "--runs-dir", runs)
    e = r["ensemble"]
    for name, value in zip(e["members"][1:], e["member_values"][1:]):
        print(f"| CNN (shift 4) {name}, no TTA | {value:.4f} | | | | |")
    print(f"| ensemble of {len(cnns)} CNNs, 1 view | {e['single_view_value']:.4f} | | | | |")
    print(f"| ensemble of {len(cnns)} CNNs x {best} views | {e['value']:.4f} | {cost(e)} |")


if __name__ == "__main__":
    main()
