"""Sequence-to-sequence translation (course 5, week 3: neural machine translation, here of dates, dltool.data.dates):
the inputs ``x`` are a source's token ids (B, Tx), the targets ``y`` its translation's ids ending in ``</s>``
(B, Ty). The net (model=attention_rnn) reads ``x`` and, teacher forcing in training, the decoder inputs ``<s>`` +
``y`` but its last token, and scores every token at every target step (B, Ty, V).

Only ``</s>`` and the target vocabulary's characters are ever scored (the others' scores are set to -inf before the
softmax: one id space serves both sides, dltool.data.dates). Loss: the token cross-entropy over the target steps
that are not ``<pad>`` (the mask), averaged over them. Figures per split: ``error`` = 1 - ``exact_match``, the share
of examples whose translation, found by beam search of width ``beam`` with length normalization ``alpha``
(dltool.decode), is the target exactly; ``token_accuracy`` the share of target steps whose most likely token given
the true ones before it is right (teacher forcing, as the loss is measured); ``bleu`` the corpus BLEU of the
translations (Papineni et al. 2002: the geometric mean of the modified 1- to 4-gram precisions over the whole split,
times the brevity penalty, here over characters, 0-100), from counts that add up over chunks exactly.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from dltool.errors import UserError, check_number
from dltool.tasks.base import Task

ORDER = 4  # BLEU's n-grams: 1 to 4
BLEU_KEYS = (*(f"match{n}" for n in range(1, ORDER + 1)), *(f"total{n}" for n in range(1, ORDER + 1)),
             "hyp_len", "ref_len")


def bleu_counts(hypothesis: list, reference: list) -> dict[str, int]:
    """One pair's clipped n-gram matches and n-gram counts (n = 1..4) and its two lengths: BLEU's sums."""
    out = {"hyp_len": len(hypothesis), "ref_len": len(reference)}
    for n in range(1, ORDER + 1):
        hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
        ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
        out[f"match{n}"] = sum(min(k, ref[g]) for g, k in hyp.items())
        out[f"total{n}"] = sum(hyp.values())
    return out


def corpus_bleu(totals: dict) -> float:
    """BLEU (0-100) from counts summed over a corpus: no smoothing (0 when some order has no match)."""
    if any(not totals[f"match{n}"] for n in range(1, ORDER + 1)):
        return 0.0
    log_precision = sum(math.log(totals[f"match{n}"] / totals[f"total{n}"]) for n in range(1, ORDER + 1)) / ORDER
    hyp, ref = totals["hyp_len"], totals["ref_len"]
    brevity = 1.0 if hyp > ref else math.exp(1 - ref / hyp)
    return 100 * brevity * math.exp(log_precision)


def masked_log_softmax(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Log-softmax over the ``allowed`` tokens (-inf elsewhere), in float32 at least (bf16 scores are widened; the
    float64 of a gradient check is kept)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)


def strip(ids, end: int, pad: int) -> list[int]:
    """The tokens of a sequence before its ``</s>`` (pads dropped)."""
    out = []
    for i in ids:
        if i == end:
            break
        if i != pad:
            out.append(int(i))
    return out


class Seq2Seq(Task):
    name = "seq2seq"

    def __init__(self, net, info, mean, std, optimizer, scheduler, max_epochs, augment=None, fused=False,
                 beam: int = 3, alpha: float = 0.7):
        super().__init__(net, info, mean, std, optimizer, scheduler, max_epochs, augment, fused)
        self.beam = check_number(beam, "task.beam", low=1, integer=True)
        self.alpha = check_number(alpha, "task.alpha", low=0)
        allowed = torch.zeros(len(info["classes"]), dtype=torch.bool)
        allowed[[info["classes"].index(c) for c in info["target_vocabulary"]] + [self.tokens["end"]]] = True
        self.register_buffer("allowed", allowed, persistent=False)

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not ("target_vocabulary" in data.info and x.dtype.kind == "i" and x.ndim == 2 and y.ndim == 2):
            raise UserError(f"task seq2seq needs pairs of token sequences with a target vocabulary, e.g. data=dates; "
                            f"this data has {x.dtype} inputs of shape {tuple(x.shape[1:])} and labels of shape "
                            f"{tuple(y.shape[1:])}")

    @property
    def tokens(self) -> dict:
        return self.info["tokens"]

    @property
    def max_len(self) -> int:
        return int(self.info["target_length"])

    def scores(self, x, y_in) -> torch.Tensor:
        """Teacher forcing: (B, Ty, V) log-probabilities of each next token, -inf outside the target vocabulary."""
        return masked_log_softmax(self.net(x, y_in), self.allowed)

    def decoder_inputs(self, y: torch.Tensor) -> torch.Tensor:
        start = torch.full_like(y[:, :1], self.tokens["start"])
        return torch.cat([start, y[:, :-1]], dim=1)

    def token_losses(self, x, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        log_p = self.scores(x, self.decoder_inputs(y))
        real = y != self.tokens["pad"]
        losses = F.nll_loss(log_p.transpose(1, 2), y, ignore_index=self.tokens["pad"], reduction="none")
        return losses, real, log_p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # ids (B, Tx) -> the translations' ids (B, max_len)
        return self.translate(x)[0]

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self.loss(None, batch)

    def loss(self, outputs, batch: dict) -> torch.Tensor:
        losses, real, _ = self.token_losses(batch["x"], batch["y"])
        return losses.sum() / real.sum().clamp(min=1)

    def validation_step(self, batch: dict, batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self.sums(None, batch)

    def step_function(self):
        """``step(tokens, state) -> (log_probs, state)`` of the net (an attention_rnn), for dltool.decode."""
        device = self.allowed.device

        def step(tokens, state):
            logits, state, _ = self.net.step(tokens.to(device), state)
            return masked_log_softmax(logits, self.allowed), state

        return step

    def translate(self, x: torch.Tensor, beam: int | None = None, alpha: float | None = None):
        """Beam search (``beam`` 1: greedy) of sources ``x``: (B, max_len) ids padded after ``</s>``, log P(y|x)."""
        from dltool.decode import beam_search, greedy

        beam = self.beam if beam is None else beam
        alpha = self.alpha if alpha is None else alpha
        t = self.tokens
        with torch.no_grad():
            state = self.net.encode(x)
            if beam == 1:
                found, log_p = greedy(self.step_function(), state, len(x), t["start"], t["end"], self.max_len)
            else:
                found, log_p, _ = beam_search(self.step_function(), state, len(x), t["start"], t["end"], beam,
                                              alpha, self.max_len)
        out = torch.full((len(x), self.max_len), t["pad"], dtype=torch.long)
        for i, ids in enumerate(found):
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out.to(x.device), torch.tensor(log_p, dtype=torch.float64)

    def sums(self, outputs, batch: dict) -> dict[str, torch.Tensor]:
        x, y = batch["x"], batch["y"]
        losses, real, log_p = self.token_losses(x, y)
        right = (log_p.argmax(dim=-1) == y) & real
        found, _ = self.translate(x)
        pad, end = self.tokens["pad"], self.tokens["end"]
        counts = Counter()
        exact = 0
        for hyp, ref in zip(found.tolist(), y.tolist()):
            hyp, ref = strip(hyp, end, pad), strip(ref, end, pad)
            exact += hyp == ref
            counts.update(bleu_counts(hyp, ref))
        out = {"loss": losses.sum(), "tokens": real.sum(), "right_tokens": right.sum(),
               "exact": torch.tensor(float(exact))}
        return {**out, **{k: torch.tensor(float(counts[k])) for k in BLEU_KEYS}}

    def summarize(self, totals: dict, n: int) -> dict:
        steps = totals["tokens"]
        exact = totals["exact"] / n if n else 0.0
        return {"error": 1 - exact, "loss": totals["loss"] / steps if steps else 0.0, "exact_match": exact,
                "token_accuracy": totals["right_tokens"] / steps if steps else 0.0,
                "bleu": corpus_bleu(totals), "tokens": int(steps), "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The translations (B, max_len) padded after ``</s>``, their log P(y|x) and P(y|x) as ``confidence``."""
        found, log_p = self.translate(x)
        return {"predicted": found, "log_probability": log_p, "confidence": log_p.exp()}

    def mistakes(self, predictions: dict, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where the translation is not the reference token for token (what ``error`` counts)."""
        end, pad = self.info["tokens"]["end"], self.info["tokens"]["pad"]
        return torch.tensor([strip(h, end, pad) != strip(r, end, pad)
                             for h, r in zip(predictions["predicted"].tolist(), y.tolist())], dtype=torch.bool)

    def describe(self, x, y, predicted) -> dict:
        """The source sentence, the reference and the translation as text."""
        tokens, end, pad = [str(t) for t in self.info["classes"]], self.info["tokens"]["end"], self.info["tokens"]["pad"]
        text = lambda ids: "".join(tokens[i] for i in strip(ids, end, pad))  # noqa: E731
        return {"input": text(x.tolist()), "true": text(y.tolist()), "predicted": text(predicted.tolist())}

    @staticmethod
    def outputs(info: dict, **args) -> int:
        return len(info["classes"])


TASK = Seq2Seq
