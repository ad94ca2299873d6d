"""The study's plots in ``runs/<study>/plots/``, drawn from the values the user sees: one axis per config key (a
choice narrowed in a later stage is still one parameter), each on its own scale (log10 x, 1 - beta, linear, the
choices in their order), labelled with values rather than Optuna's internal names.

history.png (dev error by trial, best so far), parallel_coordinate.png, slice.png (dev error against each parameter)
and importances.png (Optuna's fANOVA importances on each parameter's scale)."""

from __future__ import annotations

import math
from pathlib import Path

from dltool import metrics
from dltool.search import Param, encode

MAX_LABEL = 16  # characters of a choice's label on an axis


def draw(folder: Path, space: list[Param], trials: list[dict]) -> list[str]:
    """Write the plots of the completed ``trials`` ({"number", "value", "values", "stage"}) into ``folder``; returns
    the names written (none with fewer than two trials; importances need two parameters that vary and two trials
    that scored differently)."""
    from dltool.runs import write_atomic

    if len(trials) < 2:
        return []
    folder.mkdir(exist_ok=True)
    axes = [_Axis(q, [t["values"][q.key] for t in trials]) for q in space]
    written = []
    for name, figure in (("history", _history), ("parallel_coordinate", _parallel), ("slice", _slice),
                         ("importances", _importances)):
        fig = figure(axes, trials)
        if fig is None:
            continue
        write_atomic(folder / f"{name}.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
        written.append(name)
    return written


class _Axis:
    """One parameter's position on its own scale (choices: their index), its range and its labelled ticks."""

    def __init__(self, q: Param, values: list):
        self.q, self.key = q, q.key
        self.labels = [encode(c) for c in q.choices] if q.choices is not None else None
        base = [] if q.choices is not None else [self.position(q.low), self.position(q.high)]
        seen = [self.position(v) for v in values]
        self.lo, self.hi = (0, len(q.choices) - 1) if q.choices is not None else (min(base + seen), max(base + seen))

    def position(self, value) -> float:
        if self.labels is not None:
            return float(self.labels.index(encode(value)))
        if self.q.scale == "log":
            return math.log10(value)
        if self.q.scale == "log1m":  # -log10(1 - beta): 0.9 -> 1, 0.99 -> 2, 0.999 -> 3
            return -math.log10(1 - value)
        return float(value)

    def unit(self, value) -> float:
        """The position scaled to [0, 1] over the axis's range."""
        return 0.5 if self.hi == self.lo else (self.position(value) - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[tuple[float, str]]:
        """(position, label) pairs: every choice, else about four values in the axis's own scale."""
        if self.labels is not None:
            return [(float(i), _label(c)) for i, c in enumerate(self.q.choices)]
        lo, hi = self.lo, self.hi
        if self.q.scale in ("log", "log1m") and hi - lo >= 1:
            decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
            spots = decades[::max(1, math.ceil(len(decades) / 5))]
        else:
            spots = [lo + (hi - lo) * i / 3 for i in range(4)] if hi > lo else [lo]
        return [(u, _number(self.value(u), self.q)) for u in spots]

    def value(self, u: float):
        v = 10 ** u if self.q.scale == "log" else 1 - 10 ** -u if self.q.scale == "log1m" else u
        return round(v) if self.q.integer else v


def _label(choice) -> str:
    text = (",".join(_label(c) for c in choice).join("[]") if isinstance(choice, (list, tuple))
            else str(choice).lower() if isinstance(choice, bool) else str(choice))
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _number(v, q: Param) -> str:
    if q.integer:
        return str(v)
    return f"{v:.4g}" if q.scale == "log1m" else f"{v:.3g}"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")  # no pyplot: no global state, no display
    FigureCanvasAgg(fig)
    return fig


def _stages(trials: list[dict]) -> dict[str, list[dict]]:
    stages: dict[str, list[dict]] = {}
    for t in trials:
        stages.setdefault(t.get("stage") or "search", []).append(t)
    return stages


def _history(axes: list[_Axis], trials: list[dict]):
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    for stage, group in _stages(trials).items():
        ax.scatter([t["number"] for t in group], [t["value"] for t in group], s=22, label=stage)
    ordered = sorted(trials, key=lambda t: t["number"])
    best = [min(t["value"] for t in ordered[:i + 1]) for i in range(len(ordered))]
    ax.step([t["number"] for t in ordered], best, where="post", color="#c0392b", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metrics.MONITOR.replace("_", " "))
    ax.set_title("dev error by trial")
    ax.legend(fontsize=8)
    return fig


def _parallel(axes: list[_Axis], trials: list[dict]):
    """One vertical axis a parameter, then dev error; a line a trial, darker for a lower dev error, the best in red."""
    import matplotlib

    values = [t["value"] for t in trials]
    low, high = min(values), max(values)
    error = _ErrorAxis(low, high)
    columns = [*axes, error]
    fig = _figure(max(6.0, 1.45 * len(columns) + 1.2), 4.6)
    ax = fig.add_subplot()
    cmap, norm = matplotlib.colormaps["viridis"], matplotlib.colors.Normalize(low, high)
    best = min(trials, key=lambda t: (t["value"], t["number"]))
    for t in sorted(trials, key=lambda t: -t["value"]):  # the best drawn last, on top
        ys = [a.unit(t["values"][a.key]) for a in axes] + [error.unit(t["value"])]
        if t is best:
            ax.plot(range(len(columns)), ys, color="#c0392b", lw=2.4, zorder=3, label=f"best: trial {t['number']}")
        else:
            ax.plot(range(len(columns)), ys, color=cmap(norm(t["value"])), lw=1.1, alpha=0.8)
    for i, column in enumerate(columns):
        ax.axvline(i, color="#444444", lw=0.8)
        for u, text in column.ticks():
            y = 0.5 if column.hi == column.lo else (u - column.lo) / (column.hi - column.lo)
            ax.text(i - 0.04, y, text, ha="right", va="center", fontsize=7.5, color="#333333", zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
        ax.text(i, 1.04, column.key.replace(".", "\n", 1), ha="center", va="bottom", fontsize=8.5)
    ax.set_xlim(-0.6, len(columns) - 0.8)
    ax.set_ylim(-0.04, 1.16)
    ax.axis("off")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, -0.12), fontsize=8, frameon=False)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="dev error", shrink=0.8)
    return fig


class _ErrorAxis:
    key = "dev error"

    def __init__(self, low: float, high: float):
        self.lo, self.hi = low, high

    def unit(self, value: float) -> float:
        return 0.5 if self.hi == self.lo else (value - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[tuple[float, str]]:
        spots = [self.lo + (self.hi - self.lo) * i / 3 for i in range(4)] if self.hi > self.lo else [self.lo]
        return [(u, f"{u:.3g}") for u in spots]


def _slice(axes: list[_Axis], trials: list[dict]):
    """Dev error against each parameter on its own scale, a panel a parameter, coloured by stage."""
    columns = min(4, len(axes))
    rows = math.ceil(len(axes) / columns)
    fig = _figure(3.2 * columns, 2.9 * rows)
    panels = fig.subplots(rows, columns, sharey=True, squeeze=False).ravel()
    stages = _stages(trials)
    for a, panel in zip(axes, panels):
        for stage, group in stages.items():
            panel.scatter([a.position(t["values"][a.key]) for t in group], [t["value"] for t in group], s=18,
                          alpha=0.85, label=stage)
        ticks = a.ticks()
        panel.set_xticks([u for u, _ in ticks], [text for _, text in ticks], fontsize=7.5,
                         rotation=30 if a.labels is not None and any(len(t) > 5 for _, t in ticks) else 0,
                         ha="right" if a.labels is not None and any(len(t) > 5 for _, t in ticks) else "center")
        if a.labels is not None:
            panel.set_xlim(-0.5, len(a.labels) - 0.5)
        panel.set_xlabel(a.key, fontsize=9)
    for panel in panels[len(axes):]:
        panel.set_visible(False)
    for panel in panels[::columns]:
        panel.set_ylabel("dev error")
    if len(stages) > 1:
        panels[0].legend(fontsize=7)
    fig.suptitle("dev error against each parameter")
    return fig


def _importances(axes: list[_Axis], trials: list[dict]):
    """Optuna's fANOVA importances, each parameter on its own scale (choices as categories)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    varying = [a for a in axes if len({encode(t["values"][a.key]) for t in trials}) > 1]
    if len(varying) < 2 or len({t["value"] for t in trials}) < 2:  # every trial scored alike: nothing to apportion
        return None
    view = optuna.create_study(direction="minimize")  # in memory: the study as the user sees it
    for t in trials:
        params, distributions = {}, {}
        for a in varying:
            value = t["values"][a.key]
            if a.labels is not None:
                params[a.key], distributions[a.key] = encode(value), CategoricalDistribution(a.labels)
            else:
                params[a.key], distributions[a.key] = a.position(value), FloatDistribution(a.lo, a.hi)
        view.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=t["value"]))
    importances = optuna.importance.get_param_importances(
        view, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    names = list(importances)[::-1]
    fig = _figure(7, 0.45 * len(names) + 1.4)
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="#3b75af")
    for y, n in enumerate(names):
        ax.text(importances[n], y, f" {importances[n]:.2f}", va="center", fontsize=8)
    ax.set_xlabel("importance for dev error (fANOVA)")
    ax.set_xlim(0, max(importances.values()) * 1.15 or 1)
    ax.set_title("hyperparameter importances")
    return fig
