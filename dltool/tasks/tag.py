"""Named-entity recognition, a tag a word (course 5's first sequence example, many-to-many with T_x = T_y): the
inputs ``x`` are (B, T, 2) word and shape ids (dltool.data.entities), the labels ``y`` (B, T) BIO tag ids, -1 past a
sentence's end; the net (model=brnn_tagger) scores every tag at every word, (B, T, K).

Before training the task takes its vocabulary from the training split (``learn``): the words it holds at least
``data.min_count`` times, after ``<pad>`` and ``<unk>``; any other word is ``<unk>`` to the net (``forward`` maps
the data's word ids to the vocabulary's), so a name seen only in dev or test is unknown there, as in use.

Loss: the cross-entropy of each real word's tag (padding excluded), averaged over a batch's real words; in float32 at
least (bf16 goes up, float64 stays: ``dltool gradcheck``). Figures per split, from the entities of the predicted and
the true tags (``entities``: CoNLL's chunks of BIO tags, an ``I-`` after ``O`` or another type starting one): an
entity counts as found only when its span and its type are both right. ``error`` = 1 - the micro F1 over all
entities (``f1``), ``precision`` and ``recall`` beside it, ``f1_<TYPE>`` per type, ``token_accuracy`` the share of
real words tagged right, ``loss`` the mean per-word loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.data.entities import PAD, TAG_PAD, UNK
from dltool.errors import UserError
from dltool.tasks.base import Task


def entities(tags) -> set[tuple[str, int, int]]:
    """The entities of a sequence of BIO tags as (type, start, end) with ``end`` exclusive, by CoNLL's rule: ``B-X``
    starts one, so does ``I-X`` after ``O`` or after another type; ``O``, a ``B-`` or a change of type ends one."""
    found, kind, start = set(), None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, now = str(tag).partition("-")
        if kind is not None and (prefix != "I" or now != kind):
            found.add((kind, start, i))
            kind = None
        if prefix in ("B", "I") and kind is None:
            kind, start = now, i
    return found


def count(true: set, predicted: set, types) -> dict[str, list[int]]:
    """Per type [true positives, false positives, false negatives] of predicted entities against the true ones."""
    out = {t: [0, 0, 0] for t in types}
    for kind, *_ in predicted & true:
        out.setdefault(kind, [0, 0, 0])[0] += 1
    for kind, *_ in predicted - true:
        out.setdefault(kind, [0, 0, 0])[1] += 1
    for kind, *_ in true - predicted:
        out.setdefault(kind, [0, 0, 0])[2] += 1
    return out


def prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Precision, recall and F1 (0 where their denominator is, as seqeval and conlleval give)."""
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0}


def types_of(classes) -> list[str]:
    """The entity types of a tag list (``B-PER`` -> PER), in their order."""
    return list(dict.fromkeys(str(t)[2:] for t in classes if str(t) != "O"))


def tag_names(row, length: int, classes) -> list[str]:
    return [str(classes[int(i)]) for i in row[:length]]


def spans(found, words) -> str:
    """Entities as text, in the sentence's order: ``PER: Teddy Roosevelt; LOC: Paris``."""
    return "; ".join(f"{kind}: {' '.join(words[a:b])}" for kind, a, b in sorted(found, key=lambda e: e[1]))


class Tag(Task):
    name = "tag"

    def __init__(self, net, info, mean, std, optimizer, scheduler, max_epochs, augment=None, fused=False):
        super().__init__(net, info, mean, std, optimizer, scheduler, max_epochs, augment, fused)
        index = {w: i for i, w in enumerate(self.info["vocabulary"])}
        remap = [index.get(w, UNK) for w in self.info["words"]]
        remap[PAD] = PAD
        self.register_buffer("remap", torch.tensor(remap, dtype=torch.long), persistent=False)
        self.types = types_of(self.info["classes"])

    @staticmethod
    def check_data(data) -> None:
        x, y = data.splits["train"]["x"], data.splits["train"]["y"]
        if not ("words" in data.info and "shapes" in data.info and x.ndim == 3 and y.shape == x.shape[:2]):
            raise UserError(f"task tag needs sentences with a tag a word, e.g. data=entities or data=entities "
                            f"data.path=FILE; this data has inputs of shape {tuple(x.shape[1:])} and labels of shape "
                            f"{tuple(y.shape[1:])}")

    @staticmethod
    def learn(data, seed: int, **args) -> dict:
        """The vocabulary: ``<pad>``, ``<unk>``, then the words the training split holds >= ``min_count`` times."""
        import numpy as np

        counts = np.bincount(data.splits["train"]["x"][..., 0].ravel(), minlength=len(data.info["words"]))
        keep = [w for i, w in enumerate(data.info["words"]) if i > UNK and counts[i] >= data.info["min_count"]]
        return {"vocabulary": [*data.info["words"][:UNK + 1], *keep]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 2) ids -> (B, T, K) scores; no normalization
        return self.net(torch.stack([self.remap[x[..., 0]], x[..., 1]], dim=-1))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self.loss(self(batch["x"]), batch)

    def token_losses(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16 up; float64 (gradcheck) stays
        losses = F.cross_entropy(logits.transpose(1, 2), y, ignore_index=TAG_PAD, reduction="none")
        return losses, y != TAG_PAD

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        losses, real = self.token_losses(logits, batch["y"])
        return losses.sum() / real.sum().clamp(min=1)

    def sums(self, logits: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        y = batch["y"]
        losses, real = self.token_losses(logits, y)
        predicted = logits.argmax(dim=2)
        totals = {t: [0, 0, 0] for t in self.types}
        classes = self.info["classes"]
        for p, t, n in zip(predicted.tolist(), y.tolist(), real.sum(dim=1).tolist()):
            found = count(entities(tag_names(t, n, classes)), entities(tag_names(p, n, classes)), self.types)
            for kind, c in found.items():
                totals[kind] = [a + b for a, b in zip(totals[kind], c)]
        out = {"loss": losses.sum(), "tokens": real.sum(), "right": ((predicted == y) & real).sum()}
        for kind, (tp, fp, fn) in totals.items():
            out.update({f"tp_{kind}": torch.tensor(float(tp)), f"fp_{kind}": torch.tensor(float(fp)),
                        f"fn_{kind}": torch.tensor(float(fn))})
        return out

    def summarize(self, totals: dict, n: int) -> dict:
        tokens = totals["tokens"]
        kinds = {t: [totals[f"{k}_{t}"] for k in ("tp", "fp", "fn")] for t in self.types}
        micro = prf(*(sum(c[i] for c in kinds.values()) for i in range(3)))
        return {"error": 1 - micro["f1"], **micro, **{f"f1_{t}": prf(*c)["f1"] for t, c in kinds.items()},
                "token_accuracy": totals["right"] / tokens if tokens else 0.0,
                "loss": totals["loss"] / tokens if tokens else 0.0, "tokens": int(tokens), "n": n}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each word's most likely tag (-1 past the sentence), its probabilities (B, T, K) and ``confidence``: the
        mean over the real words of the largest probability."""
        p = torch.softmax(self(x).float(), dim=2)
        best, predicted = p.max(dim=2)
        real = x[..., 0] != PAD
        confidence = (best * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)
        return {"predicted": torch.where(real, predicted, TAG_PAD), "probability": p, "confidence": confidence}

    def mistakes(self, predictions: dict, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where a sentence's predicted entities are not its true ones (a span or a type wrong, one
        missed or one made up): what the entity F1 counts against."""
        classes = self.info["classes"]
        out = []
        for truth, said in zip(y.tolist(), predictions["predicted"].tolist()):
            n = sum(t != TAG_PAD for t in truth)
            out.append(entities(tag_names(truth, n, classes)) != entities(tag_names(said, n, classes)))
        return torch.tensor(out, dtype=torch.bool)

    def describe(self, x, y, predicted) -> dict:
        """The sentence, and its true and predicted entities as ``TYPE: words`` joined by ``; ``."""
        n, classes = int((y != TAG_PAD).sum()), self.info["classes"]
        words = [self.info["words"][int(i)] for i in x[:n, 0]]
        return {"input": " ".join(words), "true": spans(entities(tag_names(y.tolist(), n, classes)), words),
                "predicted": spans(entities(tag_names(predicted.tolist(), n, classes)), words)}


TASK = Tag
