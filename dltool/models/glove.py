"""GloVe (Pennington, Socher and Manning 2014, "GloVe: Global vectors for word representation"; course 5, week 2,
"GloVe word vectors"): for words i and j that co-occur X_ij times within the window, learn vectors theta_i, e_j and
biases b_i, b'_j so that theta_i . e_j + b_i + b'_j is close to log X_ij; task=embed weighs each pair's squared error
by f(X_ij). theta and e play symmetric roles, so the course takes their mean as a word's final vector:
e_w(final) = (theta_w + e_w) / 2 (``vectors``), as the paper does (W + W~).

Initialization as the GloVe reference code: every vector and bias uniform in [-0.5/d, 0.5/d]. It serves task=embed
only; the vocabulary's size is the task's number of outputs (``num_classes``).
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_number
from dltool.models import register_model


class GloVe(nn.Module):
    objective = "glove"  # what task=embed trains (dltool.tasks.embed)

    def __init__(self, input_shape, num_classes, dim=100):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model glove takes rows of word ids, shape (T,); got {tuple(input_shape)}")
        check_number(dim, "model.dim", low=1, integer=True)
        self.theta = nn.Embedding(num_classes, dim)
        self.e = nn.Embedding(num_classes, dim)
        self.b = nn.Embedding(num_classes, 1)
        self.b_context = nn.Embedding(num_classes, 1)
        for table in (self.theta, self.e, self.b, self.b_context):
            nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)

    def score(self, targets: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """theta_i . e_j + b_i + b'_j (the model of log X_ij): targets (P,) with contexts (P,) -> (P,), or with
        contexts (P, k) -> (P, k)."""
        v, u = self.theta(targets), self.e(contexts)
        if u.dim() == v.dim():
            dot = (v * u).sum(-1)
        else:
            dot = torch.bmm(u, v.unsqueeze(-1)).squeeze(-1)
        bias = self.b(targets)
        return dot + (bias if u.dim() > v.dim() else bias[..., 0]) + self.b_context(contexts)[..., 0]

    def vectors(self) -> torch.Tensor:
        """(V, d) the final word vectors (theta + e) / 2."""
        return (self.theta.weight + self.e.weight) / 2

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # word ids (...) -> their final vectors (..., d)
        ids = ids.long().clamp(min=0)
        return (self.theta(ids) + self.e(ids)) / 2


@register_model("glove", tasks=("embed",))
def glove(input_shape, num_classes, dim=100):
    """GloVe word vectors of ``dim`` numbers (trained on the co-occurrence counts by task=embed)."""
    return GloVe(input_shape, num_classes, dim)
