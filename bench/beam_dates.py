"""Greedy search against beam search of widths 1, 3 and 10, with and without length normalization, on a trained
date translator (task=seq2seq): exact match, corpus BLEU, seconds, and the error analysis of the search, per split.

Run from the repository root with the venv active, on a run of ``dltool train experiment=translate_dates``:
    python bench/beam_dates.py RUN_FOLDER [--splits dev,test] [--threads 1]

Prints one Markdown row per (split, search): what README's table shows.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--splits", default="dev,test")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import torch

    from dltool.beam_analysis import analyse, sequence_log_probs
    from dltool.decode import beam_search, greedy, normalized
    from dltool.restore import restore
    from dltool.tasks.seq2seq import bleu_counts, corpus_bleu, strip

    torch.set_num_threads(args.threads)
    setup, module = restore(args.run)
    t = module.tokens
    searches = [("greedy", None, 0.0)] + [(f"beam {b}", b, a) for b in (1, 3, 10) for a in (0.0, 0.7)]
    print("| split | search | alpha | exact match | BLEU | seconds | mistakes: beam / model |")
    print("|---|---|---|---|---|---|---|")
    for split in args.splits.split(","):
        x, y = setup.splits[split]["x"], setup.splits[split]["y"]
        ref_lp, ref_len = sequence_log_probs(module, x, y)
        refs = [strip(r, t["end"], t["pad"]) for r in y.tolist()]
        for label, width, alpha in searches:
            start = time.perf_counter()
            with torch.no_grad():
                state = module.net.encode(x)
                if width is None:
                    found, _ = greedy(module.step_function(), state, len(x), t["start"], t["end"], module.max_len)
                else:
                    found, _, _ = beam_search(module.step_function(), state, len(x), t["start"], t["end"], width,
                                              alpha, module.max_len)
            seconds = time.perf_counter() - start
            hyps = [strip(h, t["end"], t["pad"]) for h in found]
            right = np.array([h == r for h, r in zip(hyps, refs)])
            totals: dict = {}
            for h, r in zip(hyps, refs):
                for k, v in bleu_counts(h, r).items():
                    totals[k] = totals.get(k, 0) + v
            ids = torch.full((len(x), module.max_len), t["pad"], dtype=torch.long)
            for i, h in enumerate(found):
                ids[i, :len(h)] = torch.tensor(h, dtype=torch.long)
            hyp_lp, hyp_len = sequence_log_probs(module, x, ids)
            a = alpha if width is not None else 0.0
            tally = analyse(np.array([normalized(float(p), int(n), a) for p, n in zip(ref_lp, ref_len)]),
                            np.array([normalized(float(p), int(n), a) for p, n in zip(hyp_lp, hyp_len)]), ~right)
            print(f"| {split} | {label} | {alpha:g} | {right.mean():.4f} | {corpus_bleu(totals):.2f} | "
                  f"{seconds:.2f} | {tally['beam']} / {tally['model']} |")


if __name__ == "__main__":
    main()
