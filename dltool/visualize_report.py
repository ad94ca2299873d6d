"""What ``dltool visualize`` prints and draws: one line a layer, and the PNG grid of the top patches (one row a unit,
one column a rank, grouped by layer). Thin: the numbers and patches come from dltool.visualize."""

from __future__ import annotations

from pathlib import Path

from dltool.runs import write_atomic

OUTSIDE = "#d8e4f0"  # the part of a patch outside the input (a window clipped at the border)


def _axes_text(values: list[int]) -> str:
    """``[5]`` -> ``5``; ``[7, 7]`` -> ``7x7``."""
    return "x".join(str(v) for v in values)


def layer_title(layer: dict) -> str:
    return (f"layer {layer['layer']} ({layer['name']}, {layer['block']}): receptive field "
            f"{_axes_text(layer['receptive_field'])}, stride {_axes_text(layer['stride'])}")


def print_visualize(result: dict) -> None:
    """Per layer its field and chosen units; how the units were chosen; the picture's path."""
    import typer

    r = result
    typer.echo(f"run {r['run']} ({r['model']}, input {tuple(r['input_shape'])}): the top {r['top']} of the "
               f"{r['n']} examples of the {r['split']} split for each unit; units: {r['units_chosen']}")
    for layer in r["layers"]:
        units = ", ".join(str(u["unit"]) for u in layer["units"])
        typer.echo(f"{layer_title(layer)}; {len(layer['units'])} of {layer['channels']} units: {units}")
    typer.echo(f"wrote {r['picture']}")


def draw(path: Path, result: dict, patches: list) -> None:
    """The grid: a block of rows per layer (its title: field and stride), a row a unit ("layer L unit U"), a column a
    rank, each panel titled "#index activation"; a signal's channels as lines, an image as grey (or RGB) pixels, all
    on one value scale; what lies outside the input shaded."""
    import warnings

    import numpy as np
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    finite = [p[np.isfinite(p)] for p in patches]
    values = np.concatenate([f for f in finite if f.size]) if any(f.size for f in finite) else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1.0
    rows = [len(layer["units"]) for layer in result["layers"]]
    columns = max(len(u["top"]) for layer in result["layers"] for u in layer["units"])
    two_d = len(result["input_shape"]) == 3
    cell_h = 0.8 if two_d else 0.6
    figure = Figure(figsize=(0.85 * columns + 1.2, cell_h * sum(rows) + 0.45 * len(rows) + 0.5), layout="constrained")
    FigureCanvasAgg(figure)
    parts = figure.subfigures(len(rows), 1, height_ratios=[n * cell_h + 0.45 for n in rows], squeeze=False)[:, 0]
    grey = colormaps["gray"].with_extremes(bad=OUTSIDE)
    for part, layer, layer_patches in zip(parts, result["layers"], patches):
        part.suptitle(layer_title(layer), fontsize=8, x=0.02, ha="left")
        grid = part.subplots(len(layer["units"]), columns, squeeze=False)
        for row_axes, unit, unit_patches in zip(grid, layer["units"], layer_patches):
            for axes, found, patch in zip(row_axes, unit["top"], unit_patches):
                if two_d:
                    if patch.shape[0] == 3:
                        image = np.clip((patch.transpose(1, 2, 0) - low) / (high - low), 0, 1)
                        outside = ~np.isfinite(image).all(axis=2)
                        image = np.nan_to_num(image)
                        image[outside] = [int(OUTSIDE[i:i + 2], 16) / 255 for i in (1, 3, 5)]
                        axes.imshow(image, interpolation="nearest")
                    else:  # one channel as it is; several (not 3) as their mean
                        with warnings.catch_warnings():  # a pixel outside the input stays NaN, the background
                            warnings.simplefilter("ignore", RuntimeWarning)
                            grey_patch = patch[0] if len(patch) == 1 else np.nanmean(patch, axis=0)
                        axes.imshow(grey_patch, cmap=grey, vmin=low, vmax=high, interpolation="nearest")
                else:
                    lo, hi = found["window"][0]
                    positions = np.arange(lo, hi)
                    for channel in patch:
                        axes.plot(positions, channel, linewidth=0.8)
                    inside = np.isfinite(patch).any(axis=0)
                    for p in positions[~inside]:
                        axes.axvspan(p - 0.5, p + 0.5, color=OUTSIDE, linewidth=0)
                    axes.set_xlim(lo - 0.5, hi - 0.5)
                    axes.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
                axes.set_title(f"#{found['index']} {found['activation']:.3g}", fontsize=6, pad=2)
                axes.set_xticks([])
                axes.set_yticks([])
            for axes in row_axes[len(unit["top"]):]:
                axes.set_axis_off()
            row_axes[0].set_ylabel(f"layer {layer['layer']} unit {unit['unit']}", fontsize=6, rotation=0,
                                   ha="right", va="center")
    chosen = "by mean activation" if result["pick"] == "mean" else f"at random, seed {result['seed']}"
    figure.suptitle(f"run {result['run']}: each unit's top {result['top']} {result['split']} examples "
                    f"(units {chosen})", fontsize=9)
    write_atomic(Path(path), lambda tmp: figure.savefig(tmp, format="png", dpi=100))
