"""Language modelling (course 5, "Dinosaurus Island"): predict each next character of a sequence from the ones before
it. The inputs ``x`` are token ids (B, T) that start with ``<s>``, the targets ``y`` the same sequences one step on
(dltool.data.names); the net puts out a score a token at every step, (B, T, V).

Loss: the cross-entropy of the next token, averaged over the steps whose target is not ``<pad>`` (a name shorter
than the longest one adds nothing past its end token: the mask). The course sums it over one name's steps; the mean
over a batch's real steps keeps the learning rate from depending on the length of names.
Figures per split, over the real steps of all its sequences: ``error`` the share of steps whose most likely next
token (argmax) is not the true one, ``loss`` the mean token loss in nats, ``perplexity`` = exp(loss): the number of
equally likely characters the model is as unsure as (1 for certainty; the vocabulary's size for a guess).

Token ids are not magnitudes: this task never standardizes its inputs (the net embeds them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dltool.errors import UserError
from dltool.tasks.base import Task


def token_losses(logits: torch.Tensor, y: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) cross-entropy of each step's target, 0 where the target is ``pad``, and the (B, T) mask of real steps."""
    real = y != pad
    losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # logits (B, V, T) for cross_entropy
    return losses * real, real


def perplexity(loss: float) -> float:
    """exp(mean token loss); infinite where that overflows a float (a diverged model)."""
    return math.exp(loss) if loss < 700 else math.inf


class LanguageModel(Task):
    name = "lm"

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        tokens = data.info.get("tokens")
        if not (isinstance(tokens, dict) and x.dtype.kind == "i" and x.ndim == 2 and y.shape == x.shape):
            raise UserError(f"task lm needs token sequences (ids with start, end and pad tokens), e.g. data=names or "
                            f"data=names data.path=FILE; this data has {x.dtype} inputs of shape "
                            f"{tuple(x.shape[1:])} and labels of shape {tuple(y.shape[1:])}")

    @property
    def pad(self) -> int:
        return self.info["tokens"]["pad"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # ids (B, T) -> logits (B, T, V); no normalization
        return self.net(x)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self.loss(self.net(batch["x"]), batch)

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up; float64 (gradcheck) stays
        losses, real = token_losses(logits, batch["y"], self.pad)
        return losses.sum() / real.sum().clamp(min=1)

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        y = batch["y"]
        losses, real = token_losses(logits, y, self.pad)
        return {"loss": losses.sum(), "tokens": real.sum(), "wrong": ((logits.argmax(dim=2) != y) & real).sum()}

    def summarize(self, totals: dict, n: int) -> dict:
        steps = totals["tokens"]
        loss = totals["loss"] / steps if steps else 0.0
        return {"error": totals["wrong"] / steps if steps else 0.0, "loss": loss, "perplexity": perplexity(loss),
                "tokens": int(steps), "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each step's most likely next token and the log-probabilities of every token, (B, T, V), from which
        evaluate scores the true ones; ``confidence`` the probability of the argmax, averaged over each sequence's
        real steps (those whose input is neither end nor pad)."""
        log_p = torch.log_softmax(self(x).float(), dim=2)
        best, predicted = log_p.max(dim=2)
        real = (x != self.pad) & (x != self.info["tokens"]["end"])
        confidence = (best.exp() * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)
        return {"predicted": predicted, "log_probability": log_p, "confidence": confidence}


TASK = LanguageModel
