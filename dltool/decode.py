"""Decoding a sequence-to-sequence model (course 5, week 3): greedy search and beam search, as pure functions of a
``step``.

``step(tokens, state) -> (log_probs, state)``: for m running hypotheses, their last tokens (m,) and their state (a
tensor or a tuple / list / dict of tensors whose first dimension is m) give the log-probabilities of every next
token (m, V) and the new state. Nothing else of the model is seen, so a toy step with hand-set probabilities tests
the search (tests/test_seq2seq.py).

Greedy search takes the most likely token at every step. Beam search with width B keeps the B most likely partial
translations (the sum of their tokens' log-probabilities, log P(y|x), course 5): at every step each of the B live
hypotheses is extended by every token; of the B x V extensions, those among the B best that end (``</s>``) are
complete translations and leave the beam, and the B best that do not end are the next beam (the scheme of Hugging
Face's BeamSearchScorer: the beam stays B wide). The answer is the complete translation of the highest
length-normalized score (1 / T_y^alpha) log P(y|x), T_y its number of tokens with ``</s>``: without it the search
favours short outputs, every token multiplying in a probability below 1. alpha = 0 is no normalization, alpha = 1
the mean log-probability a token; the course softens it with alpha = 0.7, after Wu et al. 2016 (Google's NMT), whose
length penalty ((5 + |Y|) / 6)^alpha is of the same kind. An example's search stops when no live hypothesis can
still win: log P only falls as a hypothesis grows, so none can score above log P / max_len^alpha, and it stops once
that bound of the best live one is no higher than the best complete score (with alpha = 0: once the best complete
translation is more likely than every live prefix); at ``max_len`` steps the live ones count as they are.
With B = 1 and alpha = 0 beam search is greedy search.
"""

from __future__ import annotations

import math

import torch


def select(state, index: torch.Tensor):
    """The rows ``index`` of every tensor in ``state`` (a tensor or a nested tuple / list / dict of them)."""
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index.to(state.device))
    if isinstance(state, dict):
        return {k: select(v, index) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(select(v, index) for v in state)
    return state


def normalized(log_prob: float, length: int, alpha: float) -> float:
    """The beam's objective: log P(y|x) / T_y^alpha (alpha = 0: log P itself)."""
    return log_prob / (max(length, 1) ** alpha) if alpha else log_prob


def greedy(step, state, n: int, start: int, end: int, max_len: int) -> tuple[list[list[int]], list[float]]:
    """Each of ``n`` examples' most likely token at every step, until ``</s>`` or ``max_len`` tokens: the token
    sequences (``</s>`` included where it came) and their log P(y|x)."""
    last = torch.full((n,), start, dtype=torch.long)
    sequences: list[list[int]] = [[] for _ in range(n)]
    total = torch.zeros(n, dtype=torch.float64)
    ended = torch.zeros(n, dtype=torch.bool)
    for _ in range(max_len):
        log_probs, state = step(last, state)
        best, token = log_probs.float().cpu().max(dim=1)
        total += torch.where(ended, 0.0, best.double())
        for i in (~ended).nonzero()[:, 0].tolist():
            sequences[i].append(int(token[i]))
        ended |= token == end
        last = token
        if ended.all():
            break
    return sequences, total.tolist()


def beam_search(step, state, n: int, start: int, end: int, width: int, alpha: float = 0.7,
                max_len: int = 50) -> tuple[list[list[int]], list[float], list[float]]:
    """Beam search of width ``width`` for ``n`` examples (``state`` has n rows); see the module doc. Returns, for
    each example, the winner's tokens (``</s>`` included where it came), its log P(y|x) and its normalized score."""
    k = width
    rows = torch.arange(n).repeat_interleave(k)
    state = select(state, rows)  # k copies of each example's state, example-major
    scores = torch.full((n, k), -math.inf, dtype=torch.float64)
    scores[:, 0] = 0.0  # one live hypothesis to start with: the empty one
    history = torch.zeros((n, k, 0), dtype=torch.long)
    last = torch.full((n * k,), start, dtype=torch.long)
    finished: list[list[tuple[float, float, list[int]]]] = [[] for _ in range(n)]  # (score, log P, tokens)
    done = torch.zeros(n, dtype=torch.bool)
    best = torch.full((n,), -math.inf, dtype=torch.float64)  # the best complete score so far
    bound = max_len ** alpha if alpha else 1.0
    for t in range(max_len):
        log_probs, state = step(last, state)
        log_probs = log_probs.double().cpu()
        v = log_probs.shape[1]
        total = (scores.reshape(-1, 1) + log_probs).reshape(n, k * v)
        m = min(2 * k, k * v)
        top, index = total.topk(m, dim=1)  # sorted, best first
        beam, token = index // v, index % v
        ends, alive = token == end, torch.isfinite(top)
        rank = torch.arange(m).expand(n, m)
        for i, r in ((ends & alive & (rank < k)) & ~done[:, None]).nonzero().tolist():
            tokens = [*history[i, beam[i, r]].tolist(), end]
            finished[i].append((normalized(float(top[i, r]), t + 1, alpha), float(top[i, r]), tokens))
            best[i] = max(float(best[i]), finished[i][-1][0])
        order = (rank + m * (ends | ~alive)).argsort(dim=1, stable=True)[:, :k]  # the k best that go on
        keep = beam.gather(1, order)
        scores = torch.where((ends | ~alive).gather(1, order), -math.inf, top.gather(1, order))
        last_tokens = token.gather(1, order)
        history = torch.cat([history.gather(1, keep[..., None].expand(-1, -1, t)), last_tokens[..., None]], dim=2)
        state = select(state, (torch.arange(n)[:, None] * k + keep).reshape(-1))
        last = last_tokens.reshape(-1)
        done |= scores.max(dim=1).values / bound <= best  # no live one can win (all dead: -inf <= anything)
        if done.all():
            break
    for i in range(n):  # cut off at max_len: the live ones count as they are
        if not done[i]:
            for j in torch.isfinite(scores[i]).nonzero()[:, 0].tolist():
                raw = float(scores[i, j])
                finished[i].append((normalized(raw, history.shape[2], alpha), raw, history[i, j].tolist()))
    won = [max(f, key=lambda h: h[0]) if f else (-math.inf, -math.inf, []) for f in finished]
    return [w[2] for w in won], [w[1] for w in won], [w[0] for w in won]


def log_prob(step, state, n: int, start: int, sequences: list[list[int]]) -> list[float]:
    """log P(y|x) of given token sequences (one an example, ``</s>`` included if it is to count), step by step:
    what error analysis compares the beam's answer with (course 5)."""
    length = max((len(s) for s in sequences), default=0)
    ids = torch.zeros((n, length), dtype=torch.long)
    real = torch.zeros((n, length), dtype=torch.bool)
    for i, s in enumerate(sequences):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        real[i, :len(s)] = True
    total = torch.zeros(n, dtype=torch.float64)
    last = torch.full((n,), start, dtype=torch.long)
    for t in range(length):
        log_probs, state = step(last, state)
        picked = log_probs.double().cpu().gather(1, ids[:, t:t + 1])[:, 0]
        total += torch.where(real[:, t], picked, 0.0)
        last = ids[:, t]
    return total.tolist()
