"""The LightningModule for classification: owns input normalization, the loss, the error metric and the optimizers.

The network is a plain ``nn.Module`` from the model registry; this module wraps it. dltool drives it with Lightning
Fabric (see dltool.train), and it works unchanged under ``pytorch_lightning.Trainer``.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from dltool.augment import augment
from dltool.optim import build_optimizer, build_scheduler


def standardizer(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std of the training split (course 2's input normalization); constant features get std 1."""
    mean = x_train.mean(dim=0)
    std = x_train.std(dim=0)
    return mean, torch.where(std > 1e-8, std, torch.ones_like(std))


class Classifier(pl.LightningModule):
    """Softmax classification of ``net``'s logits with cross-entropy; error = 1 - accuracy.

    Args:
        net: maps a batch of inputs (B, *input_shape) to logits (B, num_classes).
        mean, std: input normalization statistics (of the train split), stored in the checkpoint.
        optimizer, scheduler: the config groups as dicts (see dltool.optim).
        max_epochs: the horizon of schedules that need one (cosine).
        augment: data augmentation of training batches (dltool.augment: shift, noise, scale); None = off.
    """

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor, optimizer: dict, scheduler: dict,
                 max_epochs: int, augment: dict | None = None, fused: bool = False):
        super().__init__()
        self.augment = {k: v for k, v in (augment or {}).items() if v}
        self.net = net
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler)
        self.max_epochs = max_epochs
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, *input_shape) -> (B, num_classes)
        return self.net((x - self.mean) / self.std)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        z = (x - self.mean) / self.std
        if self.augment:  # training batches only: dev, test and predictions see the data as it is
            z = augment(z, **self.augment)
        return F.cross_entropy(self.net(z), y)

    def validation_step(self, batch, batch_idx: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss and number of mistakes on a batch, so that splits can be reduced exactly over chunks."""
        x, y = batch
        logits = self(x).float()
        return F.cross_entropy(logits, y, reduction="sum"), (logits.argmax(dim=1) != y).sum()

    def configure_optimizers(self):
        optimizer = build_optimizer(self, self.optimizer_cfg, fused=self.fused)
        scheduler = build_scheduler(optimizer, self.scheduler_cfg, self.max_epochs)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
