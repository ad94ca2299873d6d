"""How much `dltool tune` costs over a bare Optuna loop, what Hyperband saves, and what a second worker buys.

One search throughout: MNIST-1D, MLP with one hidden layer, Adam, batch 100, N epochs a trial, random sampler, seed 0;
optimizer.lr log-uniform in [1e-4, 1e-1] and model.hidden in [32], [64], [128], [256] (a temporary search-space YAML).
Measured in one process, one after another, after an untimed warm-up (imports, data cache, matplotlib):
  1-2. trials/min, 1 torch thread, pruner none; (c), (a), (b) in turn, --rounds times (each round in another order),
       the median round of each and the median of each round's own ratio (c) / (a) (a machine shared with other work
       slows one round or another: the medians keep a ratio from such a round):
       (a) bare Optuna (in-memory storage, RandomSampler seeded per trial) + a hand-written loop on the same data splits,
           standardized inputs, dltool's own MLP (create_model: same layers and init), dev error each epoch;
       (b) bare Optuna (in-memory) + dltool.train.train per trial: adds dltool's run machinery (build, run folder,
           checkpoints, history) but not tune's storage; under dltool.cache.reuse, as a tune worker's trials run (the
           data set, its device copy, the standardization statistics and the baseline are reused between trials);
       (c) dltool.tune as run_study drives it (plan, open_study, work: SQLite study, one run folder per trial), timed
           without and with `finish` (retrain of the winner with its test error, trials.csv, best.yaml, plots).
       (a) and (b) sample the same configurations as (c): the same sampler, seeded per trial by dltool.tune.trial_seed,
       with the same order and number of choices.
  3.   pruner none (= 1c) against hyperband (min_resource --min-epochs, eta 3): epochs trained, wall time, best dev
       error.
  4.   workers=1 with 1 thread (= 1c), workers=1 with 2 threads, workers=2 (dltool gives each cpu_count // 2 threads).
       The parent is worker 0 and the others are spawned processes (their imports count); they share the study, so
       they sample the same configurations. They are started as run_study starts them: before the plan, so that their
       start-up overlaps the parent's.
  5.   worker scaling on trials of a few seconds (--scale-trials trials of --scale-epochs epochs): workers=1 with 1
       thread against workers=2 (1 thread each on 2 cores), start-up included: what --workers is for; and (a) at
       this scale, for the per-trial overhead of trials of a few seconds (one round: a round is minutes).
Wall times exclude `finish` except where said. The last lines repeat the two figures to watch: the per-trial overhead
ratio (c) / (a) and the trials-per-minute ratio of 2 workers to 1 (short trials, section 4; longer ones, section 5).
Anything else running on the machine skews both (the second most): rerun on a quiet machine.

Run from the repository root with the venv active (DLTOOL_CACHE set so MNIST-1D is cached):
    python bench/tune_overhead.py [--trials 30] [--epochs 30] [--min-epochs 3] [--scale-trials 16]
        [--scale-epochs 300] [--rounds 3] [--sections 1,3,4,5] [--no-two-threads] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import torch
from omegaconf import OmegaConf

from dltool import cache, tune
from dltool.tune.workers import run_workers, start_workers
from dltool.models import create_model, net_arguments
from dltool.train import build, train
from hand_loop import train_by_hand  # bench/hand_loop.py: the baseline loop, shared with train_overhead.py

SPACE = """params:
  optimizer.lr: {low: 1.0e-4, high: 1.0e-1, scale: log}
  model.hidden: {choices: [[32], [64], [128], [256]]}
"""
HIDDEN = [32, 64, 128, 256]
SEED = 0


def tune_run(space: Path, trials: int, epochs: int, threads: int | None = 1, **options) -> dict:
    """dltool.tune the way run_study runs it (a fresh study in a temporary folder), with `finish` timed apart."""
    overrides = [f"search={space}", f"trainer.max_epochs={epochs}"]
    overrides += [f"trainer.threads={threads}"] if threads else []
    with tempfile.TemporaryDirectory() as tmp:
        opts = tune.TuneOptions(overrides=overrides, trials=trials, seed=SEED, name="bench", progress=False,
                                runs_dir=Path(tmp), **options)
        start, cpu = time.perf_counter(), cpu_seconds()
        workers = start_workers(opts) if opts.workers > 1 else None  # as run_study: first, to overlap the plan
        p = tune.plan(opts)
        p.study_dir.mkdir(parents=True)
        study = tune.open_study(p)
        if opts.workers == 1:
            tune.work(p, study)
        else:
            run_workers(p, study, workers)  # what run_study calls for workers > 1 (nothing public stops before finish)
        search, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        final = tune.open_study(p)
        summary = tune.finish(p, final)
        total = time.perf_counter() - start
        done = final.get_trials(deepcopy=False)
    return {"seconds": search, "cpu": cpu, "with_finish": total, "n": len(done), "best": (summary["best"] or {}).get("value"),
            "epochs": sum(t.user_attrs.get("result", {}).get("epochs", 0) for t in done),
            "pruned": sum(t.state.name == "PRUNED" for t in done), "failed": sum(t.state.name == "FAIL" for t in done)}


def sample(trial) -> tuple[float, list[int]]:
    """The same two parameters, in the same order and from the same per-trial seed as dltool: lr, then the hidden size."""
    trial.study.sampler = optuna.samplers.RandomSampler(seed=tune.trial_seed(SEED, trial.number))
    lr = trial.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True)
    return lr, [trial.suggest_categorical("model.hidden", HIDDEN)]


def bare_objective(s, epochs: int):
    """A hand-written loop on dltool's splits (inputs standardized once) and dltool's MLP; returns best dev error."""
    (x, y), (x_dev, y_dev) = ((s.splits[k]["x"], s.splits[k]["y"]) for k in ("train", "dev"))
    mean, std = s.module.mean, s.module.std
    x, x_dev = (x - mean) / std, (x_dev - mean) / std
    model_args = net_arguments(OmegaConf.to_container(s.cfg.model))
    o, batch = s.cfg.optimizer, s.trainer["batch_size"]

    def objective(trial) -> float:
        lr, hidden = sample(trial)
        torch.manual_seed(s.seed)
        net = create_model(s.cfg.model.name, s.data.input_shape, len(s.data.classes), **{**model_args, "hidden": hidden})
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(o.beta1, o.beta2), eps=o.eps)
        return min(train_by_hand(net, opt, x, y, x_dev, y_dev, epochs, batch, s.seed))

    return objective


def train_objective(cfg, runs_dir: Path):
    """Each trial a full dltool.train.train run (build, run folder, checkpoints, history, metrics.json)."""
    def objective(trial) -> float:
        lr, hidden = sample(trial)
        c = copy.deepcopy(cfg)
        OmegaConf.update(c, "optimizer.lr", lr, merge=False)
        OmegaConf.update(c, "model.hidden", hidden, merge=False)
        return train(c, runs_dir=runs_dir, progress=False, report_test=False)["splits"]["dev"]["error"]

    return objective


def bare_run(make_objective, trials: int) -> dict:
    """A bare Optuna study: in-memory storage, RandomSampler seeded per trial, study.optimize."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp, cache.reuse():
        objective = make_objective(Path(tmp))
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=SEED))
        start = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "n": trials, "best": study.best_value}


def median(results: list[dict]) -> dict | None:
    """Of the rounds of one measurement, the one of median time (of an even number, the faster middle one)."""
    return sorted(results, key=lambda r: r["seconds"])[(len(results) - 1) // 2] if results else None


def cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the workers): what the search cost, whatever else runs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def per_min(r: dict) -> float:
    return 60 * r["n"] / r["seconds"]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def row(label: str, r: dict, base: dict | None = None, seconds: float | None = None) -> str:
    seconds = r["seconds"] if seconds is None else seconds
    ms = 1000 * seconds / r["n"]
    extra = f"  x{seconds / base['seconds']:5.2f}  {ms - 1000 * base['seconds'] / base['n']:+7.0f} ms" if base else ""
    return (f"  {label:44s} {seconds:8.2f} s {60 * r['n'] / seconds:7.1f}/min {ms:7.0f} ms/trial  "
            f"best dev {r['best']:.4f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--min-epochs", type=int, default=3, help="hyperband's min_resource")
    parser.add_argument("--rounds", type=int, default=3,
                        help="section 1's (a), (b), (c) measured this many times, interleaved; the median round each")
    parser.add_argument("--scale-trials", type=int, default=16, help="section 5's trials")
    parser.add_argument("--scale-epochs", type=int, default=300, help="section 5's epochs a trial (a few seconds)")
    parser.add_argument("--sections", default="1,3,4,5", help="which to run, e.g. 1,5 (2 is part of 1)")
    parser.add_argument("--no-two-threads", action="store_true",
                        help="skip section 4's workers=1 with 2 threads (minutes on a machine busy with other work)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 6 trials of 5 epochs, one round, section 5: 4 of 20")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.scale_trials, args.scale_epochs, args.rounds = 6, 5, 4, 20, 1
    n, epochs = args.trials, args.epochs
    sections = {int(x) for x in args.sections.split(",")}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}, trials {n}, epochs {epochs}, "
          f"min epochs {args.min_epochs}, seed {SEED}, optuna {optuna.__version__}, torch {torch.__version__}")
    print(f"load average {load()} (anything else running skews every figure; 2-thread runs most)")
    print("search: optimizer.lr log-uniform 1e-4..1e-1, model.hidden [32]|[64]|[128]|[256]; random sampler")

    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.yaml"
        space.write_text(SPACE)
        cfg = tune.plan(tune.TuneOptions(overrides=[f"search={space}", f"trainer.max_epochs={epochs}",
                                                    "trainer.threads=1"], seed=SEED)).cfg
        s = build(cfg)
        # Warm-up, untimed: lazy imports (Optuna, Fabric, SQLAlchemy, matplotlib in finish), the data cache.
        tune_run(space, 2, 1)
        bare_run(lambda _: bare_objective(s, 1), 1)

        rounds = {"c": [], "a": [], "b": []}
        measure = {"c": lambda: tune_run(space, n, epochs), "a": lambda: bare_run(lambda _: bare_objective(s, epochs), n),
                   "b": lambda: bare_run(lambda runs: train_objective(cfg, runs), n)}
        for i in range(args.rounds if 1 in sections else 1 if sections & {3, 4} else 0):
            # each round in another order (cab, abc, bca): a machine that speeds up or slows down during a round
            # favours no one of the three
            for k in ("cab"[i % 3:] + "cab"[:i % 3] if 1 in sections else "c"):
                rounds[k].append(measure[k]())
        none, bare, machinery = (median(rounds[k]) for k in "cab")
        if 3 in sections:
            hyperband = tune_run(space, n, epochs, pruner="hyperband", min_epochs=args.min_epochs)
        if 4 in sections:
            two_threads = None if args.no_two_threads else tune_run(space, n, epochs, threads=2)
            workers = tune_run(space, n, epochs, threads=None, workers=2)
        if 5 in sections:
            m, long_epochs = args.scale_trials, args.scale_epochs
            long_one = tune_run(space, m, long_epochs)
            long_two = tune_run(space, m, long_epochs, threads=None, workers=2)
            long_bare = bare_run(lambda _: bare_objective(s, long_epochs), m)  # (a) at this scale: the overhead

    if 1 in sections:
        print(f"\n1-2. throughput, 1 thread, pruner none, {n} trials x {epochs} epochs, the median of {args.rounds} "
              "interleaved rounds  (x and ms: against (a))")
        for k, label in (("a", "bare loop"), ("b", "train"), ("c", "tune")):
            print(f"  rounds, {label}: " + ", ".join(f"{r['seconds']:.2f}" for r in rounds[k]) + " s")
        paired = {k: sorted(r["seconds"] / a["seconds"] for r, a in zip(rounds[k], rounds["a"])) for k in "bc"}
        print("  each round's own ratios to its (a): (b) " + ", ".join(f"{x:.3f}" for x in paired["b"]) +
              "; (c) " + ", ".join(f"{x:.3f}" for x in paired["c"]))
        print(row("(a) bare Optuna + hand-written loop", bare))
        print(row("(b) bare Optuna + dltool.train.train", machinery, bare))
        print(row("(c) dltool tune, without finish", none, bare))
        print(row("    dltool tune, with finish", none, bare, none["with_finish"]))
        print(f"  dltool's overhead per trial (c - a): {1000 * (none['seconds'] - bare['seconds']) / n:+.0f} ms  = "
              f"run machinery (b - a) {1000 * (machinery['seconds'] - bare['seconds']) / n:+.0f} ms "
              f"+ tune storage and bookkeeping (c - b) {1000 * (none['seconds'] - machinery['seconds']) / n:+.0f} "
              f"ms; finish {none['with_finish'] - none['seconds']:.2f} s once")

    if 3 in sections:
        print("\n3. pruner (without finish)  trials  pruned  failed  epochs  seconds  trials/min  best dev")
        for name, r in (("none", none), (f"hyperband (min {args.min_epochs})", hyperband)):
            print(f"  {name:24s} {r['n']:7d} {r['pruned']:7d} {r['failed']:7d} {r['epochs']:7d} {r['seconds']:8.2f} "
                  f"{per_min(r):11.1f} {r['best']:9.4f}")
        kept = hyperband["epochs"] / none["epochs"]
        print(f"  hyperband trained {kept:.2f} of the epochs (x{1 / kept:.2f} fewer, {1 - kept:.0%} saved) "
              f"in {hyperband['seconds'] / none['seconds']:.2f} of the time")

    each = f"{max(1, (os.cpu_count() or 1) // 2)} thread(s) each (this process and 1 spawned)"
    if 4 in sections:
        print(f"\n4. workers (pruner none, without finish; {os.cpu_count()} CPUs)")
        for name, r in (("workers=1, trainer.threads=1 (= 1c)", none), ("workers=1, trainer.threads=2", two_threads),
                        (f"workers=2, {each}", workers)):
            if r is None:
                continue
            print(f"  {name:44s} {r['seconds']:8.2f} s {per_min(r):7.1f}/min  x{per_min(r) / per_min(none):5.2f}  "
                  f"best dev {r['best']:.4f}")
    if 5 in sections:
        print(f"\n5. worker scaling, {m} trials x {long_epochs} epochs (pruner none, without finish, start-up "
              f"included; {os.cpu_count()} CPUs)")
        for name, r in (("workers=1, trainer.threads=1", long_one), (f"workers=2, {each}", long_two)):
            print(f"  {name:44s} {r['seconds']:8.2f} s {per_min(r):7.1f}/min  x{per_min(r) / per_min(long_one):5.2f}  "
                  f"{1000 * r['seconds'] / r['n']:7.0f} ms/trial  CPU {r['cpu'] / r['n']:5.2f} s/trial  "
                  f"best dev {r['best']:.4f}")
        print(f"  (a) at this scale, bare Optuna + hand-written loop {long_bare['seconds']:8.2f} s: dltool tune with one "
              f"worker x{long_one['seconds'] / long_bare['seconds']:.3f} "
              f"({1000 * (long_one['seconds'] - long_bare['seconds']) / m:+.0f} ms a trial, study creation included)")
        extra = long_two["cpu"] - long_one["cpu"]
        print(f"  CPU seconds (this process and its workers) depend little on other work: 2 workers spent {extra:+.1f} s "
              f"more\n  (their start-up: interpreters, imports, plans); on {os.cpu_count()} idle cores they could reach "
              f"x{2 * long_one['cpu'] / long_two['cpu']:.2f} (2 x CPU of 1 worker / CPU of 2)")

    print("\nthe figures to watch (targets: overhead <= 1.10, scaling >= 1.7 on trials of a few seconds):")
    if 1 in sections:
        print(f"  per-trial overhead ratio, dltool tune / bare loop (c / a): x{none['seconds'] / bare['seconds']:.2f} "
              f"({1000 * (none['seconds'] - bare['seconds']) / n:+.0f} ms a trial) of the median rounds; the median "
              f"of the rounds' own ratios x{statistics.median(paired['c']):.2f}")
    if 4 in sections:
        print(f"  worker scaling, 2 workers / 1, trials of {1000 * none['seconds'] / n:.0f} ms: "
              f"x{per_min(workers) / per_min(none):.2f}")
    if 5 in sections:
        print(f"  worker scaling, 2 workers / 1, trials of {long_one['seconds'] / m:.1f} s: "
              f"x{per_min(long_two) / per_min(long_one):.2f} (CPU-bound at best: "
              f"x{2 * long_one['cpu'] / long_two['cpu']:.2f})")
        print(f"  per-trial overhead ratio on trials of {long_bare['seconds'] / m:.1f} s, dltool tune / bare loop: "
              f"x{long_one['seconds'] / long_bare['seconds']:.3f}")
    print(f"\nload average at the end {load()}")


if __name__ == "__main__":
    main()
