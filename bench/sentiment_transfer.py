"""Do word vectors learned on a larger corpus help a sentence classifier with few labelled sentences? (Course 5,
week 2: Emojify.)

Vectors: `task=embed model=skipgram data=wiki optimizer.lr=0.03 trainer.max_epochs=5` (gensim's Wikipedia excerpt,
452,944 tokens, 100 numbers a word), trained once with seed 0 (or `--vectors RUN`, an embed run of 100 dimensions).
Sentences: `data=polarity` (gensim's 200 Pang & Lee sentences: 100 train, 20 train-dev, 40 dev, 40 test, split by
each seed), both of the course's models (`word_average`, `word_lstm`), each three ways:
  - from scratch: the embedding learned from the 100 training sentences alone;
  - frozen: `model.init_from=<vectors> model.freeze=embedding` (the course's choice for little data);
  - fine-tuned: `model.init_from=<vectors>` (the vectors move with the rest).
Every seed gets its own split and init; prints dev and test error (mean +- std over seeds, and the standard error of
the mean), beside the bag-of-words logistic regression every run records as its baseline, and how much of the
sentences' vocabulary the vectors cover.

    python bench/sentiment_transfer.py [--seeds 0 1 ... 9] [--vectors RUN] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

MODELS = ("word_average", "word_lstm")
WAYS = {"from scratch": [], "frozen": ["model.freeze=embedding"], "fine-tuned": []}
VECTORS = ["task=embed", "model=skipgram", "data=wiki", "optimizer.lr=0.03", "trainer.max_epochs=5", "seed=0"]


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    sd = statistics.stdev(values)
    return f"{statistics.mean(values):.3f} +- {sd:.3f} (s.e. {sd / math.sqrt(len(values)):.3f})"


def coverage(vectors: Path) -> str:
    """Shares of the polarity sentences' word types and tokens that the embed run has a vector for."""
    import numpy as np

    from dltool.checkpoints import load
    from dltool.config import compose
    from dltool.data import load_data

    known = {str(w) for w in load(vectors / "checkpoints" / "best.ckpt")["info"]["classes"]}
    data = load_data(compose(["data=polarity"]).data, 0)
    words = data.info["vocabulary"]
    counts = np.bincount(np.concatenate([s["x"].ravel() for s in data.splits.values()]), minlength=len(words))
    hit = [i for i, w in enumerate(words) if i > 1 and w in known]
    return (f"{len(hit)} of {len(words) - 2} word types ({len(hit) / (len(words) - 2):.0%}), "
            f"{counts[hit].sum() / counts[2:].sum():.0%} of the tokens")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--vectors", type=Path, default=None, help="an embed run to take the vectors from")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    logging.getLogger("lightning_fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from dltool.config import compose
    from dltool.train import train

    threads = [f"trainer.threads={args.threads}"] if args.threads else []
    results = {(m, way): [] for m in MODELS for way in WAYS}
    baseline: list[tuple[float, float]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        vectors = args.vectors
        if vectors is None:
            r = train(compose([*VECTORS, *threads]), runs_dir=runs, name="vectors", progress=False)
            vectors = Path(runs) / "vectors"
            spearman = r["embedding"]["wordsim353"]["spearman"]
            print(f"vectors: {time.perf_counter() - start:.0f} s, WordSim {spearman:.3f}", file=sys.stderr)
        for seed in args.seeds:
            for model in MODELS:
                for way, extra in WAYS.items():
                    init = [] if way == "from scratch" else [f"model.init_from={vectors.resolve()}"]
                    r = train(compose(["data=polarity", f"model={model}", f"seed={seed}", *threads, *init, *extra]),
                              runs_dir=runs, progress=False)
                    results[model, way].append((r["splits"]["dev"]["error"], r["splits"]["test"]["error"]))
                    print(f"seed {seed} {model} {way}: dev {results[model, way][-1][0]:.3f} test "
                          f"{results[model, way][-1][1]:.3f}", file=sys.stderr)
            b = r["baseline"]["splits"]
            baseline.append((b["dev"]["error"], b["test"]["error"]))
        covered = coverage(vectors)

    print(f"{len(args.seeds)} seeds, {time.perf_counter() - start:.0f} s in all; the vectors cover {covered}")
    print("| model | embedding | dev error | test error |")
    print("|---|---|---|---|")
    print(f"| bag-of-words logistic regression (the baseline) | - | {mean_std([d for d, _ in baseline])} | "
          f"{mean_std([t for _, t in baseline])} |")
    for (model, way), rows in results.items():
        print(f"| {model} | {way} | {mean_std([d for d, _ in rows])} | {mean_std([t for _, t in rows])} |")


if __name__ == "__main__":
    main()
