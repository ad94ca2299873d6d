"""``dltool visualize``: the input patches that most activate chosen units of each conv layer of a run (course 4's
"What are deep ConvNets learning?", after Zeiler & Fergus 2013). Registered on the one app of dltool.cli_base like the
tools of dltool.cli_tools; heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltool.cli_base import Json, command, print_json, warn_unfinished


@command
def visualize(
    run: Annotated[str, typer.Argument(help="A run of a conv net (cnn, lenet, resnet, mobilenet, inception, yolo): a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    split: Annotated[str, typer.Option(help="train, train_dev, dev or test: the examples searched.")] = "train",
    layers: Annotated[str, typer.Option(help="Conv layers (blocks of the net's features with weights), numbered from 1, e.g. 1,2,3; or all.")] = "all",
    units: Annotated[int, typer.Option(help="Units (channels) a layer (all of a layer that has fewer).")] = 8,
    top: Annotated[int, typer.Option(help="Examples a unit: those with the largest activation, each once.")] = 9,
    pick: Annotated[str, typer.Option(help="Which units: mean (the largest mean activation over the split) or random (seeded by --seed).")] = "mean",
    seed: Annotated[int, typer.Option(help="Seed of --pick random: same seed, same units.")] = 0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The PNG to write; default RUN/visualize-<split>.png.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """What the conv layers see (course 4; Zeiler & Fergus 2013): for chosen units of each conv layer, the split's
    examples that activate them most, shown as the input patch the unit sees (its receptive field) at its maximum.

    Writes a PNG grid, one row a unit, one column a rank, grouped by layer. Examples: dltool visualize my-cnn-run |
    dltool visualize my-cnn-run --layers 1,3 --units 4 --top 6 -o cnn.png | dltool visualize my-cnn-run --pick random --seed 1 --json
    """
    from dltool.runs import find_run
    from dltool.visualize import check_options, visualize_run

    check_options(split, units, top, pick, seed)  # before the run is looked up: a mistake in the options first
    run_dir = find_run(run, runs_dir)
    result = visualize_run(run_dir, split=split, layers=layers, units=units, top=top, pick=pick, seed=seed,
                           output=output)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
        return
    from dltool.visualize_report import print_visualize

    print_visualize(result)
