"""``translate_run(run, text)``: one text through a trained translator (task=seq2seq), with the attention it paid.

The text is written as the run's data wrote its sources (lowercased if ``data.lowercase``); a character the source
vocabulary lacks becomes ``<unk>`` (and is named in the result), a text longer than ``data.max_length`` is refused.
Beam search of the run's width and length normalization, or of ``--beam`` / ``--alpha``, finds the translation; the
attention weights alpha^<t,t'> of each output step t over the input characters t' are those the decoder computed
along that translation, drawn as a map (rows: output characters and ``</s>``; columns: input characters) in
RUN/attention.png, or ``--output``.
"""

from __future__ import annotations

import math
from pathlib import Path

from dltool.errors import UserError, check_number
from dltool.runs import read_config, run_name, write_atomic

HOW = "train one with: dltool train experiment=translate_dates"


def check_options(text, beam, alpha) -> str:
    """The text, stripped; a UserError for an empty one or a bad ``--beam`` / ``--alpha``."""
    if beam is not None:
        check_number(beam, "--beam", low=1, integer=True)
    if alpha is not None:
        check_number(alpha, "--alpha", low=0)
        if not math.isfinite(alpha):
            raise UserError(f"--alpha must be a finite number >= 0, got {alpha!r}")
    text = (text or "").strip()
    if not text:
        raise UserError("give a text to translate, e.g. dltool translate RUN \"3rd of March 2002\"")
    return text


def attention_weights(net, x, ids: list[int], start: int):
    """(len(ids), Tx) attention weights of the decoder fed ``<s>`` then ``ids`` (teacher forcing on its answer)."""
    import torch

    with torch.no_grad():
        state, rows, last = net.encode(x), [], torch.tensor([start], device=x.device)
        for token in ids:
            _, state, weights = net.step(last, state)
            rows.append(weights[0].float().cpu())
            last = torch.tensor([token], device=x.device)
    return torch.stack(rows).numpy() if rows else None


def attention_chart(path: Path, weights, source: list[str], output: list[str], title: str) -> None:
    """The attention map as a PNG (Agg canvas, no pyplot state): a row an output token, a column an input one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(4.0, 0.32 * len(source) + 1.5), max(3.0, 0.32 * len(output) + 1.5)),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(source)), ["␣" if c == " " else c for c in source])
    axes.set_yticks(range(len(output)), output)
    axes.set_xlabel("input")
    axes.set_ylabel("output")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, label="attention weight")
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))


def translate_run(run_dir, text: str, beam: int | None = None, alpha: float | None = None,
                  output: str | Path | None = None) -> dict:
    """Translate ``text`` with the best checkpoint of ``run_dir`` (a task=seq2seq run); write the attention map."""
    import torch

    from dltool.data.dates import encode_source
    from dltool.restore import restore

    text = check_options(text, beam, alpha)
    run_dir = Path(run_dir)
    task = ((read_config(run_dir) or {}).get("task") or {}).get("name", "classify")
    if task != "seq2seq":
        raise UserError(f"run {run_name(run_dir)} learned task={task}: dltool translate needs a translator "
                        f"(task=seq2seq); {HOW}")
    path = Path(output) if output is not None else run_dir / "attention.png"
    if path.is_dir():
        path = path / "attention.png"
    setup, module = restore(run_dir)
    info, tokens = setup.data.info, setup.data.classes
    source = text.lower() if info.get("lowercase") else text
    if len(source) > info["max_length"]:
        raise UserError(f"the text has {len(source)} characters; run {run_name(run_dir)} translates at most "
                        f"{info['max_length']} (data.max_length)")
    known = set(info["source_vocabulary"])
    unknown = sorted({c for c in source if c not in known})
    x = torch.from_numpy(encode_source([source], tokens, info["source_vocabulary"], info["max_length"]))
    x = x.to(setup.fabric.device)
    beam = module.beam if beam is None else beam
    alpha = module.alpha if alpha is None else alpha
    found, log_p = module.translate(x, beam=beam, alpha=alpha)
    end, pad = info["tokens"]["end"], info["tokens"]["pad"]
    ids = [i for i in found[0].tolist() if i != pad]
    translation = "".join(tokens[i] for i in ids if i != end)
    weights = attention_weights(module.net, x, ids, info["tokens"]["start"])
    shown = ["<unk>" if c not in known else c for c in source]
    if weights is not None:
        attention_chart(path, weights[:, :len(source)], shown, [tokens[i] for i in ids],
                        f"run {run_name(run_dir)}, beam {beam}, alpha {alpha:g}\n\"{source}\" -> \"{translation}\"")
    return {"run": run_name(run_dir), "text": text, "source": source, "translation": translation,
            "log_probability": float(log_p[0]), "probability": math.exp(float(log_p[0])), "beam": beam,
            "alpha": alpha, "unknown": unknown, "attention": str(path) if weights is not None else None,
            "weights": None if weights is None else [[round(float(w), 6) for w in row[:len(source)]]
                                                      for row in weights]}
