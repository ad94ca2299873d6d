"""The tasks' README figures, over seeds: each setting trained as the README trains it, then its dev and test figures
(mean +- std over the seeds) and seconds a run. Course 5's sequence tasks:

    lm rnn_lm          task=lm data=names model=rnn_lm (course 5's Dinosaurus Island; perplexity beside the error)
    lm transformer_lm  task=lm data=names model=transformer_lm (a decoder with a causal mask)
    ctc                experiment=ctc_digits (CER, exact match)
    trigger            experiment=trigger_digits (F1 of the frames after each trigger word)
    tag                task=tag data=entities model=brnn_tagger trainer.max_epochs=15 (entity F1)

and course 4's vision tasks (not run unless asked: the detector takes minutes a seed):
    detect             experiment=detect_canvas (mAP@0.5, mAP@[.5:.95], recall)
    verify             task=verify data=digits data.unseen=[7,8,9] model=cnn trainer.max_epochs=30 (pair error, AUC,
                       one-shot accuracy on identities never seen in training)

The seed is the run's (`seed=S`: split, initialization, shuffling); the data's own generator keeps its default seed,
so every run sees the same names, strings or sentences. One torch thread a run (`trainer.threads=1`) by default.

    python bench/task_figures.py [--seeds 0 1 2] [--only lm_rnn lm_transformer ctc trigger tag detect verify]
                                 [--threads 1]

Prints one Markdown row per setting: what README's tables of the task figures show.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings

# setting -> (overrides, the figures to show beside error: (column, metrics key))
SETTINGS = {
    "lm_rnn": (["task=lm", "data=names", "model=rnn_lm"], (("perplexity", "perplexity"),)),
    "lm_transformer": (["task=lm", "data=names", "model=transformer_lm"], (("perplexity", "perplexity"),)),
    "ctc": (["experiment=ctc_digits"], (("CER", "cer"), ("exact match", "exact_match"))),
    "trigger": (["experiment=trigger_digits"], (("F1", "f1"), ("false positives / 1,000 steps", "false_positives_per_1000"))),
    "tag": (["task=tag", "data=entities", "model=brnn_tagger", "trainer.max_epochs=15"], (("F1", "f1"),)),
    "detect": (["experiment=detect_canvas"], (("mAP@0.5", "map50"), ("mAP@[.5:.95]", "map"), ("recall", "recall"))),
    "verify": (["task=verify", "data=digits", "data.unseen=[7,8,9]", "model=cnn", "trainer.max_epochs=30"],
               (("AUC", "auc"), ("one-shot, unseen", "one_shot_unseen"))),
}
SEQUENCES = ("lm_rnn", "lm_transformer", "ctc", "trigger", "tag")  # the default: a few minutes a seed


def mean_std(values: list[float]) -> str:
    if any(v is None for v in values):
        return "-"
    return f"{statistics.mean(values):.4f}" + (f" +- {statistics.stdev(values):.4f}" if len(values) > 1 else "")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), default=list(SEQUENCES))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from dltool.config import compose
    from dltool.train import train

    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for setting in args.only:
            overrides, extras = SETTINGS[setting]
            results, seconds = [], []
            for seed in args.seeds:
                start = time.perf_counter()
                r = train(compose([*overrides, f"seed={seed}", f"trainer.threads={args.threads}"]), runs_dir=runs,
                          progress=False)
                seconds.append(time.perf_counter() - start)
                results.append(r["splits"])
                print(f"{setting} seed {seed}: dev error {r['splits']['dev']['error']:.4f}, test error "
                      f"{r['splits']['test']['error']:.4f}, {seconds[-1]:.0f} s", file=sys.stderr)
            cells = ["; ".join(f"{column} {mean_std([s[split].get(key) for s in results])}"
                               for column, key in (("error", "error"), *extras)) for split in ("dev", "test")]
            rows.append(f"| {setting} | `{' '.join(overrides)}` | {cells[0]} | {cells[1]} | "
                        f"{statistics.mean(seconds):.0f} |")
    print(f"seeds {args.seeds}, trainer.threads={args.threads}")
    print("| setting | overrides | dev | test | seconds a run |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
