"""Skip-gram with negative sampling (Mikolov et al. 2013, "Distributed representations of words and phrases and
their compositionality"; course 5, week 2, "Word2Vec" and "Negative sampling"): two tables of word vectors, one for a
word as the target (the course's embedding matrix E, e_t) and one for a word as a context (the course's theta_c of
the output units). The score of a (target, context) pair is the dot product theta_c . e_t; task=embed turns it into
k + 1 binary logistic units (the true context and k sampled negatives) instead of a softmax over the vocabulary.

Initialization as word2vec's C code and gensim: target vectors uniform in [-0.5/d, 0.5/d], context vectors zero.
The word vectors (``vectors``) are the target table E. It serves task=embed only; the vocabulary's size is the
task's number of outputs (``num_classes``).
"""

from __future__ import annotations

import torch
from torch import nn

from dltool.errors import UserError, check_number
from dltool.models import register_model


class SkipGram(nn.Module):
    objective = "skipgram"  # what task=embed trains (dltool.tasks.embed)

    def __init__(self, input_shape, num_classes, dim=100):
        super().__init__()
        if len(input_shape) != 1:
            raise UserError(f"model skipgram takes rows of word ids, shape (T,); got {tuple(input_shape)}")
        check_number(dim, "model.dim", low=1, integer=True)
        self.target = nn.Embedding(num_classes, dim)
        self.context = nn.Embedding(num_classes, dim)
        nn.init.uniform_(self.target.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.context.weight)

    def score(self, targets: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """theta_c . e_t: targets (P,) with contexts (P,) -> (P,), or with contexts (P, k) -> (P, k)."""
        v, u = self.target(targets), self.context(contexts)
        if u.dim() == v.dim():
            return (v * u).sum(-1)
        return torch.bmm(u, v.unsqueeze(-1)).squeeze(-1)  # one matrix product a target: no (P, k, d) product

    def vectors(self) -> torch.Tensor:
        """(V, d) the word vectors: the target table E."""
        return self.target.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # word ids (...) -> their vectors (..., d)
        return self.target(ids.long().clamp(min=0))


@register_model("skipgram", tasks=("embed",))
def skipgram(input_shape, num_classes, dim=100):
    """Skip-gram word vectors of ``dim`` numbers (trained with negative sampling by task=embed)."""
    return SkipGram(input_shape, num_classes, dim)
