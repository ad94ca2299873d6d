"""The base of every task: a LightningModule around a plain network, with input normalization, training-batch
augmentation and the optimizers. A task says what its loss is, what it sums over a split and how those sums become
the split's figures (``error`` among them), and what it predicts.

dltool drives tasks with Lightning Fabric (see dltool.loop) over batches that are dicts of tensors sharing their first
dimension (``{"x": inputs, "y": labels}`` for classification); a task works unchanged under
``pytorch_lightning.Trainer``.
"""

from __future__ import annotations

import itertools

import pytorch_lightning as pl
import torch
from torch import nn

from dltool.augment import augment
from dltool.models import check_words
from dltool.optim import build_optimizer, build_scheduler


def standardizer(x_train) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std of the training split (course 2's input normalization); constant features get std 1.

    ``x_train`` is a tensor, or rows on disk (dltool.data.disk.OnDevice) streamed a chunk at a time: each chunk's mean
    and sum of squared deviations, combined exactly in float64 (Chan, Golub & LeVeque's pairwise update); a split of
    one chunk gets the very computation of a tensor, so a small data set on disk standardizes as it does in memory."""
    if not isinstance(x_train, torch.Tensor):
        chunks = x_train.chunks()
        first = next(chunks)
        if len(first) == len(x_train):
            x_train = first
        else:
            n, mean, m2 = 0, torch.zeros(first.shape[1:], dtype=torch.float64, device=first.device), 0.0
            for chunk in itertools.chain([first], chunks):  # one chunk in memory at a time
                c = chunk.double()
                k, centre = len(c), c.mean(dim=0)
                delta, total = centre - mean, n + len(c)
                mean = mean + delta * (k / total)
                m2 = m2 + ((c - centre) ** 2).sum(dim=0) + delta ** 2 * (n * k / total)
                n = total
            std = (m2 / max(n - 1, 1)).sqrt().float()
            return mean.float(), torch.where(std > 1e-8, std, torch.ones_like(std))
    mean = x_train.mean(dim=0)
    std = x_train.std(dim=0)
    return mean, torch.where(std > 1e-8, std, torch.ones_like(std))


class Task(pl.LightningModule):
    """What every task shares; subclasses set ``name`` and implement ``outputs``, ``loss``, ``sums``, ``summarize``.

    Args:
        net: maps a batch of normalized inputs (B, *input_shape) to the task's outputs.
        info: what the data says about itself (labels, ...), saved with every checkpoint.
        mean, std: input normalization statistics (of the train split), stored in the checkpoint.
        optimizer, scheduler: the config groups as dicts (see dltool.optim).
        max_epochs: the horizon of schedules that need one (cosine).
        augment: data augmentation of training batches (dltool.augment: shift, noise, scale); None = off.
        fused: the optimizer's fused (one-kernel) step.
    """

    name = ""
    # ``mistakes(predictions, y) -> (B,) bool``, True where an example is wrong as a whole, from ``predict``'s dict:
    # what course 3's error analysis samples (dltool errors). A method (or staticmethod) of the tasks whose examples
    # are right or wrong; None for a task whose error is not a count of wrong examples (segmentation: per pixel).
    mistakes = None
    # figures of the dev split that dltool tune --constraint may hold a study to, beside latency and parameters
    satisficing: tuple[str, ...] = ()

    def __init__(self, net: nn.Module, info: dict, mean: torch.Tensor, std: torch.Tensor, optimizer: dict,
                 scheduler: dict, max_epochs: int, augment: dict | None = None, fused: bool = False):
        super().__init__()
        self.augment = {k: v for k, v in (augment or {}).items() if v}
        self.net = net
        self.info = dict(info)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler)
        self.max_epochs = max_epochs
        self.fused = fused
        check_words(net, self.info.get("vocabulary"))

    # Names of ``sums`` that are rows, one an example (embeddings), concatenated over a split's chunks instead of
    # added: figures of pairs of examples (task=verify) need the whole split (dltool.loop.evaluate).
    row_sums: tuple[str, ...] = ()

    @staticmethod
    def outputs(info: dict, **args) -> int:
        """How many numbers the network puts out per example (or per pixel) for data described by ``info`` and the
        task's arguments ``args``: by default one score a class (or label)."""
        return len(info["classes"])

    @staticmethod
    def check_data(data) -> None:
        """A UserError in one line when ``data`` (a dltool.data.Dataset) does not hold what this task learns from."""
        raise NotImplementedError

    @staticmethod
    def learn(data, seed: int, **args) -> dict:
        """What the task takes from the training split before training (task=detect: its anchor boxes), added to
        ``info`` and so to every checkpoint; ``seed`` is the run's. Nothing by default."""
        return {}

    def describe(self, x, y, predicted) -> dict:
        """One example as ``dltool errors`` writes it in its sheet, from numpy rows of its input, label and
        prediction: ``true`` and ``predicted`` as text (a class name; several labels' present ones joined by ``;``)
        and ``input``: the example as text where it is text, None where the sheet's picture shows it (an image, a
        signal)."""
        classes = [str(c) for c in self.info["classes"]]

        def label(value) -> str:
            if getattr(value, "ndim", 0) == 0:
                return classes[int(value)]
            return ";".join(name for name, v in zip(classes, value) if v == 1)

        text = None
        if "vocabulary" in self.info and getattr(x, "ndim", 0) == 1 and x.dtype.kind == "i":  # a sentence's word ids
            text = " ".join(self.info["vocabulary"][int(i)] for i in x if i != 0)
        return {"input": text, "true": label(y), "predicted": label(predicted)}

    def train(self, mode: bool = True):
        """Train mode for all but the parts transfer learning froze (dltool.transfer), which stay as they are."""
        super().train(mode)
        for module in getattr(self, "frozen", ()):
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, *input_shape) -> the net's outputs
        return self.net(self.standardize(x))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs as the net takes them: standardized with the training split's mean and std (of the checkpoint);
        token ids (integers) as they are: they are not magnitudes, the net embeds them."""
        if not x.is_floating_point():
            return x
        return (x - self.mean) / self.std

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        z = self.standardize(batch["x"])
        if self.augment:  # training batches only: dev, test and predictions see the data as it is
            z = augment(z, **self.augment)
        return self.loss(self.net(z), batch)

    def validation_step(self, batch: dict, batch_idx: int = 0) -> dict[str, torch.Tensor]:
        """Sums over a chunk of a split (``sums``), so that a split is reduced exactly over chunks (``summarize``)."""
        return self.sums(self(batch["x"]).float(), batch)

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        """The mean training loss of a batch."""
        raise NotImplementedError

    def sums(self, outputs: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        """Per-chunk sums from which ``summarize`` computes a split's figures (``loss`` among them)."""
        raise NotImplementedError

    def summarize(self, totals: dict[str, float], n: int) -> dict:
        """A split's figures from the sums over all its ``n`` examples: ``error``, ``loss``, ``n`` and the task's own."""
        raise NotImplementedError

    def summarize_split(self, totals: dict, n: int, split: str | None) -> dict:
        """``summarize`` of the split named ``split`` (None: unnamed); a task whose figures depend on which split it
        is (task=verify chooses its threshold on dev) overrides this."""
        return self.summarize(totals, n)

    def run_figures(self) -> dict:
        """Figures of the trained net as a whole rather than of a split (task=embed: word similarity and analogies
        of its vectors), added to metrics.json after the splits are measured on the best checkpoint. None by
        default."""
        return {}

    def configure_optimizers(self):
        optimizer = build_optimizer(self, self.optimizer_cfg, fused=self.fused)
        scheduler = build_scheduler(optimizer, self.scheduler_cfg, self.max_epochs)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
