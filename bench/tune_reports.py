"""What reporting each epoch's dev error to Optuna (``trial.report``: the intermediate values optuna-dashboard draws,
one storage write each) costs a study without a pruner.

One small study of fast trials (MNIST-1D, MLP [64], ``search=lr``, 1 torch thread, SQLite storage as dltool's default,
random sampler, seed 0), run in one process after an untimed warm-up, each round in three ways one after another:
  every    every epoch reported (``dltool.tune.trials.REPORT_SHARE`` infinite);
  budget   dltool's rule (REPORT_SHARE of the training time, the first and last epoch always);
  none     ``optuna.trial.Trial.report`` a no-op (what a study without a pruner did before).
Every call to report is timed too.

    python bench/tune_reports.py [--trials 8] [--epochs 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import optuna
import torch

from dltool.tune import TuneOptions, run_study


def study(runs: Path, name: str, trials: int, epochs: int, mode: str) -> dict:
    from dltool.tune import trials as tune_trials

    original, share, spent = optuna.trial.Trial.report, tune_trials.REPORT_SHARE, []

    def timed(self, value, step):
        start = time.perf_counter()
        original(self, value, step)
        spent.append(time.perf_counter() - start)

    optuna.trial.Trial.report = (lambda self, value, step: None) if mode == "none" else timed
    tune_trials.REPORT_SHARE = math.inf if mode == "every" else share
    try:
        start = time.perf_counter()
        run_study(TuneOptions(overrides=["search=lr", f"trainer.max_epochs={epochs}", "model.hidden=[64]",
                                         "trainer.threads=1"], trials=trials, name=name, runs_dir=runs,
                              progress=False, retrain_best=False))
        wall = time.perf_counter() - start
    finally:
        optuna.trial.Trial.report, tune_trials.REPORT_SHARE = original, share
    return {"s": wall / trials, "reports": len(spent) / trials, "ms": 1000 * sum(spent) / max(1, len(spent))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        study(runs, "warm-up", 1, 2, "every")
        rows = {mode: [] for mode in MODES}
        for r in range(args.rounds):
            for mode in MODES:
                rows[mode].append(study(runs, f"s{r}-{mode}", args.trials, args.epochs, mode))
    best = {mode: min(rows[mode], key=lambda x: x["s"]) for mode in MODES}
    print(f"{args.trials} trials x {args.epochs} epochs, best of {args.rounds} rounds")
    for mode in MODES:
        b = best[mode]
        print(f"{mode:>7}: {b['s']:.3f} s a trial ({b['s'] / best['none']['s']:.3f}x none), "
              f"{b['reports']:.1f} reports a trial, {b['ms']:.2f} ms a report")


MODES = ("every", "budget", "none")

if __name__ == "__main__":
    main()
