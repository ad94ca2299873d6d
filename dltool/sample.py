"""``sample_run(run)``: new names from a trained language model (task=lm), one character at a time, as course 5's
"Dinosaurus Island" samples dinosaur names.

Each name starts from the start token; at every step the model's scores for the next token, divided by the
temperature T, go through a softmax, and the next token is drawn from it (the course's ``np.random.choice`` over the
vocabulary with those probabilities; here ``torch.multinomial`` with a ``torch.Generator`` seeded by ``--seed``: the
same seed gives the same names). A name ends at the end token or after ``max_length`` characters. The pad, start and
unknown tokens are never drawn (their probability is set to 0 before the draw: what rejecting them until another
comes amounts to), nor the end token first: the data has no empty names. T below 1 sharpens the distribution towards
the most likely characters (common, safe names), above 1 flattens it (new, stranger ones).

A name is new when it is not one of the training split's: the model's own names, not memorized ones. The names go to
RUN/samples.txt (one a line, written atomically) and are returned with that count.
"""

from __future__ import annotations

import math
from pathlib import Path

from dltool.errors import UserError, check_number
from dltool.runs import read_config, run_name, write_text

HOW = "train one with: dltool train task=lm data=names model=rnn_lm (or model=transformer_lm)"


def check_options(n, temperature, seed, max_length) -> None:
    check_number(n, "--n", low=1, integer=True)
    check_number(temperature, "--temperature", low=0, low_open=True)
    if not math.isfinite(temperature):
        raise UserError(f"--temperature must be a finite number > 0, got {temperature!r}")
    check_number(seed, "--seed", low=0, integer=True)
    check_number(max_length, "--max-length", low=1, integer=True)


def draw(net, n: int, tokens: dict, temperature: float, seed: int, max_length: int, device, autocast=None):
    """(n, max_length) ids of ``n`` names drawn from ``net`` (an rnn_lm or a transformer_lm: ``step``), padded after their end token;
    ``tokens`` the data's special ids (pad, start, end, unk). Probabilities are drawn from on the CPU, with the seeded
    generator, so that the same seed gives the same names wherever the net runs."""
    import contextlib

    import torch

    generator = torch.Generator().manual_seed(seed)
    never = [tokens["pad"], tokens["start"], tokens["unk"]]
    out = torch.full((n, max_length), tokens["pad"], dtype=torch.long)
    ended = torch.zeros(n, dtype=torch.bool)
    current, state = torch.full((n,), tokens["start"], dtype=torch.long), None
    net.eval()
    with torch.no_grad(), (autocast or contextlib.nullcontext)():
        for t in range(max_length):
            logits, state = net.step(current.to(device), state)
            logits = logits.float().cpu() / temperature
            logits[:, never] = -math.inf
            if t == 0:
                logits[:, tokens["end"]] = -math.inf  # no empty name
            current = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator)[:, 0]
            current = torch.where(ended, tokens["pad"], current)
            out[:, t] = current
            ended |= current == tokens["end"]
            if ended.all():
                break
    return out


def sample_run(run_dir, n: int = 20, temperature: float = 1.0, seed: int = 0, max_length: int = 30) -> dict:
    """Draw ``n`` names from the best checkpoint of ``run_dir`` (a task=lm run), write RUN/samples.txt, and return
    the names, which of them are new (not in the training split) and the settings."""
    from dltool.data.names import decode
    from dltool.restore import restore

    check_options(n, temperature, seed, max_length)
    run_dir = Path(run_dir)
    task = ((read_config(run_dir) or {}).get("task") or {}).get("name", "classify")
    if task != "lm":
        raise UserError(f"run {run_name(run_dir)} learned task={task}: dltool sample draws from a language model "
                        f"(task=lm); {HOW}")
    setup, module = restore(run_dir)
    vocabulary, tokens = setup.data.classes, setup.data.info["tokens"]
    ids = draw(module.net, n, tokens, temperature, seed, max_length, setup.fabric.device, setup.fabric.autocast)
    names = [decode(row, vocabulary) for row in ids]
    capped = int(sum(tokens["end"] not in row for row in ids.tolist()))
    seen = {decode(row, vocabulary) for row in setup.data.splits["train"]["x"]}
    new = [name not in seen for name in names]
    path = run_dir / "samples.txt"
    write_text(path, "".join(f"{name}\n" for name in names))
    return {"run": run_name(run_dir), "n": n, "temperature": temperature, "seed": seed, "max_length": max_length,
            "names": names, "new": new, "new_count": sum(new), "new_share": sum(new) / n, "capped": capped,
            "training_names": len(seen), "path": str(path)}
