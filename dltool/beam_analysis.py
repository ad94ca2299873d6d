"""What ``dltool evaluate`` scores for a translation run (task=seq2seq), and course 5's error analysis of beam search.

For every mistake (a translation y_hat that is not the reference y*) the analysis compares the model's own scores of
the two, log P(y*|x) and log P(y_hat|x), each length-normalized as the beam ranks them (/ T_y^alpha). Where the
reference scores higher, the model preferred the right answer and beam search missed it: the search is at fault
(a wider beam may help). Where it does not, the model itself prefers the wrong answer: the model is at fault (more
data, regularization, another architecture; a wider beam would not help). The tally of the two over a split's
mistakes says which to work on, as the course's table does.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dltool.runs import write_text

CHUNK = 2048  # examples a teacher-forced pass


def sequence_log_probs(module, x, ids) -> tuple:
    """log P(y|x) of each row of ``ids`` (token ids up to and with ``</s>``, pads after) by teacher forcing, and the
    number of tokens each has (its T_y); in chunks, without gradients."""
    import torch

    pad = module.tokens["pad"]
    totals, lengths = [], []
    with torch.no_grad():
        for lo in range(0, len(x), CHUNK):
            y = ids[lo:lo + CHUNK].to(x.device)
            log_p = module.scores(x[lo:lo + CHUNK], module.decoder_inputs(y))
            real = y != pad
            picked = log_p.gather(2, y[..., None])[..., 0].double()
            totals.append(torch.where(real, picked, torch.zeros_like(picked)).sum(dim=1).cpu())
            lengths.append(real.sum(dim=1).cpu())
    return torch.cat(totals), torch.cat(lengths)


def analyse(reference_score, translation_score, wrong) -> dict:
    """The tally over the mistakes (``wrong``, bool per example) of who is at fault: the beam where the reference's
    normalized log-probability is higher than the translation's, else the model."""
    beam = wrong & (reference_score > translation_score)
    mistakes, at_beam = int(wrong.sum()), int(beam.sum())
    share = at_beam / mistakes if mistakes else 0.0
    if not mistakes:
        advice = "no mistakes on this split: nothing to blame"
    elif at_beam > mistakes - at_beam:
        advice = ("the search is at fault for most mistakes: the model scores the reference higher than what beam "
                  "search found; try a wider beam (task.beam=10)")
    else:
        advice = ("the model is at fault for most mistakes: it scores its wrong translation at least as high as the "
                  "reference, so a wider beam will not help; work on the model (more data, a bigger model, "
                  "regularization, training longer: dltool diagnose)")
    return {"mistakes": mistakes, "beam": at_beam, "model": mistakes - at_beam, "beam_share": share,
            "model_share": 1 - share if mistakes else 0.0, "advice": advice}


def describe(result: dict) -> list[str]:
    """An evaluation's translation figures and its tally of faults, as lines for the terminal."""
    analysis, beam, alpha = result["beam_analysis"], result["beam"], result["alpha"]
    m = analysis["mistakes"]
    figures = (f"exact match {result['exact_match']:.4f}, BLEU {result['bleu']:.2f}, token accuracy "
               f"{result['token_accuracy']:.4f}")
    tally = (f"error analysis of beam search (beam {beam}, alpha {alpha:g}) over {m} mistakes: "
             f"beam at fault {analysis['beam']} ({analysis['beam_share']:.0%}), "
             f"model at fault {analysis['model']} ({analysis['model_share']:.0%})")
    return [figures, tally, f"  {analysis['advice']}"]


def seq2seq_scores(y_true, predictions, info: dict, metric: str, module, x) -> tuple[dict, object]:
    """Exact match, BLEU and token accuracy of the translations, each target position's error, and the error
    analysis of beam search; the writer of the per-example CSV (source, reference, translation, both
    log-probabilities, who is at fault)."""
    import numpy as np
    import torch

    from dltool.decode import normalized
    from dltool.tasks.seq2seq import bleu_counts, corpus_bleu, strip

    tokens = [str(t) for t in info["classes"]]
    pad, end = info["tokens"]["pad"], info["tokens"]["end"]
    found = predictions["predicted"]
    y = torch.from_numpy(y_true)
    reference_lp, reference_len = sequence_log_probs(module, x, y)
    translation_lp, translation_len = sequence_log_probs(module, x, torch.from_numpy(found))
    alpha = module.alpha
    ref_score = np.array([normalized(float(p), int(n), alpha) for p, n in zip(reference_lp, reference_len)])
    hyp_score = np.array([normalized(float(p), int(n), alpha) for p, n in zip(translation_lp, translation_len)])
    hyps = [strip(row, end, pad) for row in found.tolist()]
    refs = [strip(row, end, pad) for row in y_true.tolist()]
    right = np.array([h == r for h, r in zip(hyps, refs)])
    counts: dict[str, int] = {}
    for h, r in zip(hyps, refs):
        for k, v in bleu_counts(h, r).items():
            counts[k] = counts.get(k, 0) + v
    with torch.no_grad():
        real = y != pad
        said = torch.cat([module.scores(x[lo:lo + CHUNK], module.decoder_inputs(y[lo:lo + CHUNK].to(x.device)))
                          .argmax(dim=-1).cpu() for lo in range(0, len(x), CHUNK)])
        token_accuracy = float(((said == y) & real).sum() / real.sum().clamp(min=1))
    figures = {"error": float(1 - right.mean()), "exact_match": float(right.mean()), "bleu": corpus_bleu(counts),
               "token_accuracy": token_accuracy}
    analysis = analyse(ref_score, hyp_score, ~right)
    per_class = {}
    for t in range(y_true.shape[1]):
        at = y_true[:, t] != pad
        if at.any():
            per_class[f"position {t + 1}"] = {"error": float((found[at, t] != y_true[at, t]).mean()),
                                              "count": int(at.sum())}
    source_rows = x.cpu().numpy()

    def text(ids) -> str:
        return "".join(tokens[i] for i in ids)

    def write(run_dir: Path, split: str) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "correct", "source", "reference", "translation", "log_p_reference",
                         "log_p_translation", "fault"])
        for i in range(len(y_true)):
            fault = "" if right[i] else "beam" if ref_score[i] > hyp_score[i] else "model"
            writer.writerow([i, int(right[i]), text(j for j in source_rows[i] if j != pad), text(refs[i]),
                             text(hyps[i]), f"{float(reference_lp[i]):.6f}", f"{float(translation_lp[i]):.6f}",
                             fault])
        write_text(run_dir / f"predictions-{split}.csv", buffer.getvalue())

    return {"value": figures[metric], "average": "none", "per_class": per_class, **figures,
            "beam": module.beam, "alpha": alpha, "beam_analysis": analysis, "measured": dict(figures)}, write
