"""Recognition of label strings without alignment by CTC (course 5's speech recognition; Graves et al. 2006): the
inputs ``x`` are long signals (B, L) (dltool.data.digit_strings), the labels ``y`` their strings of class indices
(B, S) padded with ``info["pad"]`` (-1). The net (model=ctc_rnn) scores blank + every class at every frame
(B, T, K); output ``info["blank"]`` (0) is the blank and class c is output c + 1.

Loss: torch's ``nn.CTCLoss`` (``zero_infinity=True``: a string the frames cannot hold adds 0, not inf) over each
string's real length, each string's loss divided by its length and averaged over the batch (CTCLoss's "mean"). In
the dtype of the scores, float32 at least (bf16 goes up, float64 stays: ``dltool gradcheck``).
Decoding: greedy best path (each frame's most likely output, repeats collapsed, blanks dropped), or with ``beam`` >
1 CTC prefix beam search (the most probable labeling summed over its paths, in a beam). Figures per split:
``error`` = the character error rate, the edit distance (Levenshtein: insertions, deletions, substitutions) of the
decoded strings to the references summed over the split, divided by the references' summed length, clipped to 1;
``cer`` the same unclipped, ``exact_match`` the share of strings decoded exactly, ``loss`` the mean CTC loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dltool.errors import UserError, check_number
from dltool.tasks.base import Task


def collapse(path, blank: int = 0) -> list[int]:
    """CTC's many-to-one map of a frame path: repeats merged, then blanks dropped ("aa-b-bb" -> "abb")."""
    out, last = [], None
    for p in path:
        p = int(p)
        if p != last and p != blank:
            out.append(p)
        last = p
    return out


def greedy_decode(scores: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding of (B, T, K) scores: each frame's argmax, collapsed (output ids, blank excluded)."""
    return [collapse(path, blank) for path in scores.argmax(dim=-1).tolist()]


def add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), -inf when both are."""
    if a == -math.inf:
        return b
    return max(a, b) + math.log1p(math.exp(-abs(a - b))) if b > -math.inf else a


def _extend(grown: dict, prefix: tuple, blank_p: float = -math.inf, label_p: float = -math.inf) -> None:
    """Add the probabilities of ending in a blank and in a label to ``grown[prefix]``."""
    old = grown.setdefault(prefix, [-math.inf, -math.inf])
    old[0], old[1] = add(old[0], blank_p), add(old[1], label_p)


def prefix_beam_search(log_p, beam: int, blank: int = 0) -> list[int]:
    """CTC prefix beam search of one string's (T, K) log-probabilities (Hannun et al. 2014): the ``beam`` labelings
    most probable so far, each with its probability of ending in a blank and in a label, summed over every path that
    collapses to it; the most probable labeling at the end. ``beam`` >= the number of labelings is exact."""
    log_p = log_p.tolist() if hasattr(log_p, "tolist") else log_p
    beams = {(): (0.0, -math.inf)}  # labeling -> (log P(ends in blank), log P(ends in a label))
    for frame in log_p:
        grown: dict[tuple, list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            _extend(grown, prefix, blank_p=add(pb, pnb) + frame[blank])  # a blank: the labeling stays
            for c, lp in enumerate(frame):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    _extend(grown, prefix, label_p=pnb + lp)  # the same label again, no blank between: merged
                    _extend(grown, prefix + (c,), label_p=pb + lp)  # after a blank: a new label
                else:
                    _extend(grown, prefix + (c,), label_p=add(pb, pnb) + lp)
        kept = sorted(grown.items(), key=lambda item: add(*item[1]), reverse=True)[:beam]
        beams = {prefix: tuple(p) for prefix, p in kept}
    return list(max(beams.items(), key=lambda item: add(*item[1]))[0])


def edit_distance(a, b) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def references(y: torch.Tensor, pad: int) -> list[list[int]]:
    """The label strings of padded labels (B, S): class indices before the padding."""
    return [[int(c) for c in row if c != pad] for row in y.tolist()]


class CTC(Task):
    name = "ctc"

    def __init__(self, net, info, mean, std, optimizer, scheduler, max_epochs, augment=None, fused=False,
                 beam: int = 1):
        super().__init__(net, info, mean, std, optimizer, scheduler, max_epochs, augment, fused)
        self.beam = check_number(beam, "task.beam", low=1, integer=True)

    @staticmethod
    def outputs(info: dict, **args) -> int:
        return len(info["classes"]) + 1  # blank + the classes

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not ("blank" in data.info and "pad" in data.info and x.dtype.kind == "f" and y.ndim == 2):
            raise UserError(f"task ctc needs signals labelled with strings (padded, with a blank), e.g. "
                            f"data=digit_strings; this data has {x.dtype} inputs of shape {tuple(x.shape[1:])} and "
                            f"labels of shape {tuple(y.shape[1:])}")

    @property
    def blank(self) -> int:
        return int(self.info["blank"])

    @property
    def pad(self) -> int:
        return int(self.info["pad"])

    def ctc_losses(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) CTC loss of each string over its real length, divided by that length (0 where impossible)."""
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))  # bf16 up; float64 (gradcheck) stays
        log_p = torch.log_softmax(scores, dim=-1).transpose(0, 1)  # (T, B, K), as CTCLoss takes it
        real = y != self.pad
        lengths = real.sum(dim=1)
        targets = torch.where(real, y + 1 + self.blank, torch.ones_like(y))  # class c -> output c + 1; pads ignored
        frames = torch.full((len(y),), log_p.shape[0], dtype=torch.long, device=y.device)
        losses = F.ctc_loss(log_p, targets, frames, lengths, blank=self.blank, reduction="none", zero_infinity=True)
        return losses / lengths.clamp(min=1)

    def loss(self, scores: torch.Tensor, batch: dict) -> torch.Tensor:
        return self.ctc_losses(scores, batch["y"]).mean()

    def decode(self, scores: torch.Tensor) -> list[list[int]]:
        """Each string as class indices: greedy best path (``beam`` 1), else prefix beam search of width ``beam``."""
        if self.beam == 1:
            found = greedy_decode(scores, self.blank)
        else:
            log_p = torch.log_softmax(scores.double(), dim=-1).cpu()
            found = [prefix_beam_search(row, self.beam, self.blank) for row in log_p]
        return [[c - 1 - self.blank for c in ids] for ids in found]

    def sums(self, scores: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        y = batch["y"]
        edits = exact = 0
        for hyp, ref in zip(self.decode(scores), references(y, self.pad)):
            edits += edit_distance(hyp, ref)
            exact += hyp == ref
        return {"loss": self.ctc_losses(scores, y).sum(), "edits": torch.tensor(float(edits)),
                "chars": (y != self.pad).sum(), "exact": torch.tensor(float(exact))}

    def summarize(self, totals: dict, n: int) -> dict:
        chars = totals["chars"]
        cer = totals["edits"] / chars if chars else 0.0
        return {"error": min(cer, 1.0), "cer": cer, "exact_match": totals["exact"] / n if n else 0.0,
                "loss": totals["loss"] / n if n else 0.0, "chars": int(chars), "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The decoded strings (B, T) as class indices padded with ``pad``, and ``confidence``: the probability of
        the best path (the product over frames of each frame's largest probability)."""
        scores = self(x).float()
        log_p = torch.log_softmax(scores, dim=-1)
        out = torch.full(scores.shape[:2], self.pad, dtype=torch.long)
        for i, ids in enumerate(self.decode(scores)):
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return {"predicted": out.to(x.device), "confidence": log_p.max(dim=-1).values.sum(dim=1).exp()}

    def mistakes(self, predictions: dict, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where the decoded string is not the reference (exact match's complement)."""
        return torch.tensor([h != r for h, r in zip(references(predictions["predicted"], self.pad),
                                                     references(y, self.pad))], dtype=torch.bool)

    def describe(self, x, y, predicted) -> dict:
        """The reference and the decoded string as text; the input is a signal, which the sheet's picture shows."""
        classes = [str(c) for c in self.info["classes"]]
        text = lambda ids: "".join(classes[int(c)] for c in ids if c != self.pad)  # noqa: E731
        return {"input": None, "true": text(y), "predicted": text(predicted)}


TASK = CTC
