"""dltool's skip-gram and GloVe (task=embed) against gensim's Word2Vec (skip-gram, negative sampling) on the same
corpus tokens: WordSim-353 Spearman, analogy accuracy (Mikolov's questions, 3CosAdd, within the vocabulary) and
training words per second, side by side.

Run from the repository root with the venv active (a few minutes on 2 CPU cores with the defaults):
    python bench/embeddings_gensim.py [--corpus wiki] [--dim 100] [--window 5] [--negatives 5] [--epochs 5]
        [--min-count 5] [--seed 0] [--lr 0.01] [--batch-size 100] [--threads 2]

Same for all: the training split of dltool's data=wiki (its rows of word ids, rare words already removed, as words
again) is gensim's corpus, so both see the same tokens, vocabulary, subsampling threshold and fixed window
(gensim's ``shrink_windows=False``), vector size, negatives, epochs and seed. gensim runs with workers=1 and
workers=2; dltool on ``--threads`` torch threads. Words per second = training tokens x epochs / training seconds
(dltool: the epoch loop's time from history.csv, which includes one dev evaluation an epoch; gensim: ``train``'s
time). Prints one Markdown table: what README's table shows.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path


def figures(words, vectors) -> dict:
    from dltool import word_vectors as wv

    sim = wv.similarity(words, vectors, wv.wordsim353())
    ana = wv.analogies(words, vectors, wv.analogy_questions())
    return {"spearman": sim["spearman"], "pairs": sim["pairs"], "accuracy": ana["accuracy"],
            "questions": ana["questions"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default="wiki")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negatives", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--glove-lr", type=float, default=None, help="dltool GloVe's Adam rate (default --lr)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="skipgram,glove,gensim1,gensim2")
    args = parser.parse_args()

    import numpy as np
    import torch

    from dltool.config import compose
    from dltool.data import load_data
    from dltool.train import train

    torch.set_num_threads(args.threads)
    common = ["task=embed", "data=wiki", f"data.corpus={args.corpus}", f"data.min_count={args.min_count}",
              f"data.window={args.window}", f"data.sample={args.sample}", f"model.dim={args.dim}",
              f"trainer.max_epochs={args.epochs}", f"trainer.batch_size={args.batch_size}", f"seed={args.seed}",
              f"task.negatives={args.negatives}", f"trainer.threads={args.threads}"]
    cfg = compose(["model=skipgram", *common])
    data = load_data(cfg.data, args.seed)
    words = [str(w) for w in data.classes]
    rows = data.splits["train"]["x"]
    sentences = [[words[i] for i in row[row >= 0]] for row in rows]
    tokens = sum(map(len, sentences))
    print(f"corpus {args.corpus}: {len(words):,} words in the vocabulary, {tokens:,} training tokens in "
          f"{len(sentences):,} rows; dim {args.dim}, window {args.window}, negatives {args.negatives}, "
          f"{args.epochs} epochs, sample {args.sample:g}, seed {args.seed}, torch threads {args.threads}")
    table = []
    wanted = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("skipgram", "glove"):
            if model not in wanted:
                continue
            lr = args.glove_lr if model == "glove" and args.glove_lr is not None else args.lr
            run = train(compose([f"model={model}", *common, f"optimizer.lr={lr}"]), runs_dir=tmp, name=model,
                        progress=False)
            with open(Path(tmp) / model / "history.csv", newline="") as f:
                seconds = float(list(csv.DictReader(f))[-1]["seconds"])
            e = run["embedding"]
            table.append({"model": f"dltool {model} (Adam lr {lr:g}, batch {args.batch_size} rows)",
                          "spearman": e["wordsim353"]["spearman"], "pairs": e["wordsim353"]["pairs"],
                          "accuracy": e["analogies"]["accuracy"], "questions": e["analogies"]["questions"],
                          "seconds": seconds, "dev_error": run["splits"]["dev"]["error"]})
    from gensim.models import Word2Vec

    for workers in (1, 2):
        if f"gensim{workers}" not in wanted:
            continue
        w2v = Word2Vec(vector_size=args.dim, window=args.window, min_count=1, sg=1, hs=0, negative=args.negatives,
                       sample=args.sample, seed=args.seed, workers=workers, shrink_windows=False)
        w2v.build_vocab(sentences)
        start = time.perf_counter()
        w2v.train(sentences, total_examples=len(sentences), epochs=args.epochs)
        seconds = time.perf_counter() - start
        kv = w2v.wv
        f = figures(list(kv.index_to_key), np.asarray(kv.vectors))
        table.append({"model": f"gensim Word2Vec sg=1, workers={workers}", **f, "seconds": seconds, "dev_error": None})
    print()
    print("| model | WordSim-353 Spearman (pairs) | analogy accuracy (questions) | dev error | training s | words/s |")
    print("|---|---|---|---|---|---|")
    for r in table:
        dev = "-" if r["dev_error"] is None else f"{r['dev_error']:.3f}"
        print(f"| {r['model']} | {r['spearman']:.3f} ({r['pairs']}) | {r['accuracy']:.3f} ({r['questions']}) | "
              f"{dev} | {r['seconds']:.1f} | {tokens * args.epochs / r['seconds']:,.0f} |")


if __name__ == "__main__":
    main()
