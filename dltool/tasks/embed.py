"""Word embeddings (course 5, week 2): learn a vector a word from the words around it. The inputs ``x`` are rows of
word ids (B, T), pieces of documents (dltool.data.wiki, ``PAD`` = -1 past a document's end); the examples are the
(target, context) pairs of a row: every two words at most ``window`` apart, both ways (``window_pairs``). One task
serves two models, and the net says which objective it trains (its ``objective``: model=skipgram or model=glove);
``task.objective`` follows ``model.name`` (``${model.name}``) so that ``learn`` knows whether to count co-occurrences
before the net exists, and a config that sets it otherwise is a UserError.

Skip-gram with negative sampling (Mikolov et al. 2013, "Distributed representations of words and phrases and their
compositionality"; the course's "Negative sampling"). Each training batch first drops frequent words by Mikolov's
subsampling (a word of training frequency f kept with probability min(1, sqrt(t / f)), t = ``data.sample``; the row
closes up over the dropped words, as word2vec does), then takes its pairs, and for each pair k = ``negatives`` words
drawn from P(w) = f(w)^(3/4) / sum_w' f(w')^(3/4) (counts of the training split) by inverting the cumulative
distribution. Loss, averaged over the pairs: -log sigma(theta_c . e_t) - sum_k log sigma(-theta_k . e_t).

GloVe (Pennington et al. 2014, "GloVe: Global vectors for word representation"; the course's "GloVe word vectors").
``learn`` counts X_ij, the times word j falls within the window of word i in the training split (the same pairs,
symmetric, unweighted by distance as the course defines it; no subsampling), kept in ``info`` and so in each
checkpoint. The objective is sum over the nonzero X_ij of f(X_ij) (theta_i . e_j + b_i + b'_j - log X_ij)^2 with
f(x) = min(1, (x / x_max)^alpha) (0 at x = 0: only pairs that occur are terms; x_max = 100, alpha = 3/4 as the
paper). An entry X_ij is the number of times its pair occurs in an epoch's rows, so the sum over the entries equals a
sum over the pair occurrences with weight f(X_ij) / X_ij each: a batch of rows is a batch of those terms, and one
epoch visits every nonzero entry with its full weight. The batch loss is their weighted mean
(sum w (s - log X)^2 / sum w, w = f(X) / X): the weighted mean squared error of log X. The final vectors are
(theta + e) / 2 (dltool.models.glove).

Figures per split, over the (target, context) pairs of its rows as the objective sees them (skip-gram: subsampled as
in training; GloVe: all), one negative each drawn from P(w), both by a generator seeded with the run's seed (the same
draws every epoch): ``error`` = the share of pairs whose true context the model scores below the negative (a tie
counts a half), i.e. 1 - the AUC of telling a word's real contexts from word2vec's noise words; 0.5 for an untrained
model, 0 for a perfect one; held out on train-dev, dev and test, so early stopping, tune and diagnose (train against
dev) see generalization to unseen text. (Without subsampling, skip-gram's error on frequent contexts such as "the",
which training mostly drops, rose above 0.5: the measure must be of the pairs the objective is about.)
The score is each model's own: theta_c . e_t (skip-gram) or theta_t . e_c + b_t + b'_c (GloVe's model of log X).
``loss`` is the training objective on the split's pairs (skip-gram: with k seeded negatives; GloVe: weighted by the
training counts X, pairs never seen in training weigh 0). Beside them, for the run's best vectors, ``run_figures``
gives WordSim-353's Spearman correlation and the accuracy on Mikolov's analogy questions (dltool.word_vectors).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltool.errors import UserError, check_number, choices
from dltool.tasks.base import Task

OBJECTIVES = ("skipgram", "glove")
PIECE = 1 << 18  # pairs scored at a time when a split is measured (memory: PIECE x (k + 2) x d floats)


def window_pairs(x: torch.Tensor, window: int, rows: bool = False):
    """The (targets, contexts) ids of every two words of a row at most ``window`` apart, both ways; pads (< 0) give
    none. For the row ``a b c`` and window 1: (a, b), (b, c), (b, a), (c, b). ``rows``: also each pair's row."""
    targets, contexts, where = [], [], []
    for offset in range(1, min(window, x.shape[1] - 1) + 1):
        a, b = x[:, :-offset], x[:, offset:]
        real = (a >= 0) & (b >= 0)
        a, b = a[real], b[real]
        targets += [a, b]
        contexts += [b, a]
        if rows:
            row = real.nonzero()[:, 0]
            where += [row, row]
    if not targets:
        empty = x.new_zeros(0)
        return (empty, empty, empty) if rows else (empty, empty)
    out = torch.cat(targets), torch.cat(contexts)
    return (*out, torch.cat(where)) if rows else out


def noise_distribution(counts, power: float = 0.75) -> torch.Tensor:
    """P(w) = count(w)^power / sum of them (float64): word2vec's distribution of negative words."""
    p = torch.as_tensor(counts, dtype=torch.float64) ** power
    return p / p.sum()


def draw(cdf: torch.Tensor, shape, generator: torch.Generator) -> torch.Tensor:
    """Ids drawn from the distribution whose cumulative sums are ``cdf`` (inverse transform: the first id whose
    cumulative probability exceeds a uniform number; ids of probability 0 are never drawn)."""
    u = torch.rand(shape, generator=generator, device=cdf.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(cdf) - 1)


def subsample(x: torch.Tensor, keep: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each word of ``x`` kept with its probability ``keep[id]``; a row's kept words close up to its front (the
    order kept), pads after them."""
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=keep.dtype)
    kept = (x >= 0) & (u < keep[x.clamp(min=0)])
    order = torch.sort((~kept).to(torch.int8), dim=1, stable=True).indices
    return torch.where(kept, x, -1).gather(1, order)


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's f(x) = (x / x_max)^alpha, capped at 1; f(0) = 0."""
    return torch.clamp(x / x_max, min=0).pow(alpha).clamp(max=1.0)


def skipgram_losses(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Per pair -log sigma(pos) - sum_k log sigma(-neg_k): ``pos`` (P,) scores of the true contexts, ``neg`` (P, k)."""
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


def cooccurrence(x: torch.Tensor, window: int, vocabulary: int, rows: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """X as its nonzero entries: sorted codes i * V + j (int64) and their counts X_ij (float32), from the pairs of
    the rows of ``x`` (``window_pairs``), in pieces of ``rows`` rows."""
    codes, counts = [], []
    for lo in range(0, len(x), rows):
        t, c = window_pairs(x[lo:lo + rows], window)
        code, count = torch.unique(t * vocabulary + c, return_counts=True)
        codes.append(code)
        counts.append(count)
    code, inverse = torch.unique(torch.cat(codes), return_inverse=True)
    total = torch.zeros(len(code), dtype=torch.long).index_add_(0, inverse, torch.cat(counts))
    return code, total.float()


def lookup(codes: torch.Tensor, counts: torch.Tensor, targets, contexts, vocabulary: int) -> torch.Tensor:
    """X_ij of each pair (0 where the pair never occurred)."""
    if len(codes) == 0:
        return torch.zeros(targets.shape, device=targets.device)
    query = targets * vocabulary + contexts
    at = torch.searchsorted(codes, query).clamp(max=len(codes) - 1)
    return torch.where(codes[at] == query, counts[at], torch.zeros((), device=counts.device))


class Embed(Task):
    name = "embed"
    own_buffers = ("steps",)  # beside mean and std in the state dict (dltool.export): the training batches so far

    def __init__(self, net, info, mean, std, optimizer, scheduler, max_epochs, augment=None, fused=False,
                 objective="skipgram", negatives=5, x_max=100.0, alpha=0.75):
        super().__init__(net, info, mean, std, optimizer, scheduler, max_epochs, augment, fused)
        own = getattr(net, "objective", None)
        if own != objective:
            raise UserError(f"task.objective={objective} but model {type(net).__name__} trains {own}: leave "
                            f"task.objective as it is (it follows model.name; choose from: {choices(OBJECTIVES)})")
        self.objective = objective
        self.negatives = check_number(negatives, "task.negatives", low=1, integer=True)
        self.x_max = float(check_number(x_max, "task.x_max", low=0, low_open=True))
        self.alpha = float(check_number(alpha, "task.alpha", low=0, low_open=True))
        self.window, self.vocabulary = int(self.info["window"]), len(self.info["classes"])
        self.seed = int(self.info["sampling_seed"])
        counts = torch.tensor(self.info["train_counts"], dtype=torch.float64)
        self.register_buffer("cdf", torch.cumsum(noise_distribution(counts), 0), persistent=False)
        from dltool.data.wiki import keep_probability

        keep = keep_probability(counts.numpy(), float(self.info["sample"]))
        self.register_buffer("keep", torch.as_tensor(keep), persistent=False)
        x = self.info.get("cooccurrence") or {"codes": torch.zeros(0, dtype=torch.long), "counts": torch.zeros(0)}
        self.register_buffer("codes", x["codes"], persistent=False)
        self.register_buffer("counts", x["counts"], persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training batches so far: each its draws

    @staticmethod
    def check_data(data) -> None:
        x = data.splits["train"]["x"]
        if not ("window" in data.info and "counts" in data.info and x.dtype.kind == "i" and x.ndim == 2):
            raise UserError(f"task embed needs rows of word ids from running text, e.g. data=wiki or data=wiki "
                            f"data.path=FILE; this data has {x.dtype} inputs of shape {tuple(x.shape[1:])}")

    @staticmethod
    def learn(data, seed: int, objective="skipgram", **args) -> dict:
        """The training split's word counts (negative sampling, subsampling), the seed of the task's draws, and for
        GloVe the co-occurrence counts X of the training split's pairs."""
        import numpy as np

        if objective not in OBJECTIVES:
            raise UserError(f"task embed trains model=skipgram or model=glove; task.objective is {objective!r} "
                            f"(it follows model.name): choose from: {choices(OBJECTIVES)}")
        x = data.splits["train"]["x"]
        vocabulary = len(data.info["classes"])
        counts = np.bincount(x[x >= 0], minlength=vocabulary)
        out = {"train_counts": counts.tolist(), "sampling_seed": int(seed)}
        if objective == "glove":
            codes, total = cooccurrence(torch.from_numpy(x), int(data.info["window"]), vocabulary)
            out["cooccurrence"] = {"codes": codes, "counts": total}
        return out

    def generator(self, salt: int) -> torch.Generator:
        return torch.Generator(device=self.cdf.device).manual_seed((self.seed << 24) + salt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # ids (B, T) -> their word vectors (B, T, d)
        return self.net(x)

    def vectors(self) -> torch.Tensor:
        """(V, d) the net's final word vectors, float32."""
        return self.net.vectors().detach().float()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        step = int(self.steps)
        self.steps += 1
        g = self.generator(2 * step + 2)  # one stream a training batch: resumed runs draw the same
        x = batch["x"]
        if self.objective == "skipgram":
            if float(self.info["sample"]) > 0:
                x = subsample(x, self.keep, g)
            t, c = window_pairs(x, self.window)
            if len(t) == 0:
                return self.net.score(x[:0, 0].clamp(min=0), x[:0, 0].clamp(min=0)).sum()
            neg = draw(self.cdf, (len(t), self.negatives), g)
            scores = self.net.score(t, torch.cat([c[:, None], neg], dim=1)).float()  # the context's, then k noise
            return skipgram_losses(scores[:, 0], scores[:, 1:]).mean()
        t, c = window_pairs(x, self.window)
        terms, weight = self.glove_terms(t, c)
        return terms.sum() / weight.sum().clamp(min=1e-12)

    def glove_terms(self, t, c) -> tuple[torch.Tensor, torch.Tensor]:
        """Per pair occurrence w (s - log X)^2 and w = f(X) / X (0 where X = 0)."""
        count = lookup(self.codes, self.counts, t, c, self.vocabulary)
        weight = torch.where(count > 0, glove_weight(count, self.x_max, self.alpha) / count.clamp(min=1),
                             torch.zeros((), device=count.device))
        error = self.net.score(t, c).float() - torch.log(count.clamp(min=1))
        return weight * error ** 2, weight

    def validation_step(self, batch: dict, batch_idx: int = 0) -> dict[str, torch.Tensor]:
        return self.sums(None, batch)

    def held_out(self, x: torch.Tensor):
        """For a chunk of rows, piece by piece of its pairs: (each pair's row, targets, contexts, scores (P, k + 1) of
        the true context then k seeded noise words), the same draws every epoch."""
        g = self.generator(1)
        if self.objective == "skipgram" and float(self.info["sample"]) > 0:
            x = subsample(x, self.keep, g)  # the pairs the objective is about (see the module doc)
        t, c, rows = window_pairs(x, self.window, rows=True)
        for lo in range(0, len(t), PIECE):
            tt, cc = t[lo:lo + PIECE], c[lo:lo + PIECE]
            neg = draw(self.cdf, (len(tt), max(self.negatives, 1)), g)
            yield rows[lo:lo + PIECE], tt, cc, self.net.score(tt, torch.cat([cc[:, None], neg], dim=1)).float()

    @staticmethod
    def wrong(scores: torch.Tensor) -> torch.Tensor:
        """Per pair 1 where the first noise word scores above the true context, 0.5 for a tie, else 0 (float64)."""
        pos, first = scores[:, 0], scores[:, 1]
        return (first > pos).double() + 0.5 * (first == pos).double()

    def sums(self, outputs, batch: dict) -> dict[str, torch.Tensor]:
        """Over the chunk's pairs: the pairs, their wrongly ranked count (the negative above the true context), the
        loss sum and (GloVe) the sum of the weights."""
        device = batch["x"].device
        out = {k: torch.zeros((), dtype=torch.float64, device=device) for k in ("pairs", "wrong", "loss", "weight")}
        for _, tt, cc, scores in self.held_out(batch["x"]):
            out["wrong"] += self.wrong(scores).sum()
            out["pairs"] += len(tt)
            if self.objective == "skipgram":
                out["loss"] += skipgram_losses(scores[:, 0], scores[:, 1:]).double().sum()
                out["weight"] += len(tt)
            else:
                terms, weight = self.glove_terms(tt, cc)
                out["loss"] += terms.double().sum()
                out["weight"] += weight.double().sum()
        return out

    def summarize(self, totals: dict, n: int) -> dict:
        pairs, weight = totals["pairs"], totals["weight"]
        return {"error": totals["wrong"] / pairs if pairs else 0.0,
                "loss": totals["loss"] / weight if weight else 0.0, "pairs": int(pairs), "n": n}

    def run_figures(self) -> dict:
        """WordSim-353 (Spearman) and the analogy questions on the net's vectors (dltool.word_vectors)."""
        return {"embedding": word_figures(list(map(str, self.info["classes"])), self.vectors().cpu().numpy())}

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per row its pairs and how many of them rank below their noise word (``wrong``, ties a half): summed over
        a split (in the chunks dltool.loop measures it in), its error."""
        pairs = torch.zeros(len(x), dtype=torch.float64, device=x.device)
        wrong = torch.zeros_like(pairs)
        for rows, _, _, scores in self.held_out(x):
            pairs.index_add_(0, rows, torch.ones_like(rows, dtype=torch.float64))
            wrong.index_add_(0, rows, self.wrong(scores))
        return {"pairs": pairs, "wrong": wrong}


def word_figures(words: list[str], vectors) -> dict:
    """``{"wordsim353": similarity figures, "analogies": analogy figures}`` of the vectors (dltool.word_vectors)."""
    from dltool import word_vectors as wv

    return {"wordsim353": wv.similarity(words, vectors, wv.wordsim353()),
            "analogies": wv.analogies(words, vectors, wv.analogy_questions())}


TASK = Embed
