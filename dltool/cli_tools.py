"""The course's tools beyond training: diagnose (the gaps and what to try), gradcheck (backprop against two-sided
differences), errors (error analysis), style (neural style transfer), sample (a language model's names), translate (a
translator's output and attention) and tag (a named-entity tagger's tags). Each
registers on the one app of dltool.cli_base; heavy imports stay inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltool.cli_base import Json, Overrides, command, print_json, warn_unfinished


@command
def diagnose(
    run: Annotated[Optional[str], typer.Argument(help="A run or a dltool tune study: a name in --runs-dir, or a path to its folder.", show_default=False)] = None,
    errors: Annotated[Optional[str], typer.Option(help="Errors of a model trained elsewhere: human=0.01,train=0.08,train_dev=0.09,dev=0.10,test=0.11.")] = None,
    human_error: Annotated[Optional[float], typer.Option(help="Human-level error (proxy for Bayes error), overriding the data set's.")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Avoidable bias, variance, data mismatch and dev overfitting: the gap to work on first and what to try.

    A study gets every trial's gaps (bias- or variance-bound), the stages' trend and the winner's diagnosis.
    Examples: dltool diagnose my-run | dltool diagnose lr-mnist1d | dltool diagnose --errors human=0.01,train=0.08,dev=0.10
    """
    from dltool.diagnose import diagnose as diagnose_errors
    from dltool.diagnose import parse_errors
    from dltool.report import diagnose_run
    from dltool.errors import UserError
    from dltool.runs import find_run

    if (run is None) == (errors is None):
        raise UserError("give a run or a study (dltool diagnose RUN) or --errors human=...,train=...,dev=..., not both")
    from dltool.study_diagnosis import study_folder

    study = study_folder(run, runs_dir) if run is not None else None
    if study is not None:  # a dltool tune study: every trial's gaps, the stages' trend, the winner's ladder
        from dltool.study_report import diagnose_study, print_study_diagnosis

        result = diagnose_study(study, human_error=human_error)
        if json_out:
            print_json(result)
        else:
            print_study_diagnosis(result)
        return
    if run is not None:
        try:
            run_dir = find_run(run, runs_dir)
        except UserError as e:  # the name may be meant as a study's: name those too
            from dltool.study_diagnosis import study_names

            names = study_names(runs_dir)
            raise UserError(f"{e}; studies: {', '.join(names)}" if names else str(e)) from None
        result = diagnose_run(run_dir, human_error=human_error)
    else:
        values = parse_errors(errors)
        if human_error is not None:
            values["human"] = human_error
        result = diagnose_errors(values)
    if json_out:
        print_json(result)
    else:
        from dltool.report import print_diagnosis

        print_diagnosis(result)
        if run is not None:
            typer.echo(f"wrote diagnosis.json, diagnosis.md and diagnosis.png in {find_run(run, runs_dir)}", err=True)


@command
def gradcheck(
    overrides: Overrides = None,
    after: Annotated[int, typer.Option(help="Check again after this many training steps (some bugs show only then).")] = 0,
    batch: Annotated[int, typer.Option(help="Training examples in the checked batch.")] = 8,
    sample: Annotated[int, typer.Option(help="Entries checked a parameter tensor (all of a smaller one), seeded.")] = 20,
    eps: Annotated[float, typer.Option(help="The step of the two-sided difference.")] = 1e-6,
    json_out: Json = False,
) -> None:
    """Compare backprop's gradients with two-sided differences in float64 (course 2), per parameter tensor.

    Dropout off, the L2 term in the cost; bands: below 1e-6 fine, below 1e-4 check, else bug (exit code 1).
    Examples: dltool gradcheck | dltool gradcheck model=cnn data=digits --after 50 --json
    """
    from dltool.config import compose
    from dltool.gradcheck import check
    from dltool.train import build, keep_threads

    cfg = compose(list(overrides or []))
    with keep_threads():
        result = check(build(cfg), batch_size=batch, eps=eps, sample=sample, after=after, seed=cfg.seed)
    if json_out:
        print_json(result)
    else:
        from dltool.report import print_gradcheck

        print_gradcheck(result)
    if result["band"] == "bug":
        raise typer.Exit(1)


@command
def errors(
    run: Annotated[str, typer.Argument(help="A run name in --runs-dir, or a path to a run folder.", show_default=False)],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Overrides of how the saved config runs, e.g. trainer.accelerator=cpu.", show_default=False)] = None,
    split: Annotated[Optional[str], typer.Option(help="train, train_dev, dev or test (default dev; with --tally, the sheet's).", show_default=False)] = None,
    n: Annotated[Optional[int], typer.Option("--n", help="Mistakes to sample (default 100, the course's).", show_default=False)] = None,
    tags: Annotated[Optional[str], typer.Option(help="The sheet's category columns (default dog,great_cat,blurry,mislabeled).", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the sampling (default 0): same seed, same sheet.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a sheet that already has filled tag cells or notes.")] = False,
    tally: Annotated[Optional[Path], typer.Option(help="Tally a filled sheet: count, share and ceiling per tag.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Error analysis (course 3): sample a split's mistakes into a sheet to tag by hand, then tally it.

    Writes RUN/errors-<split>.csv (index, true, predicted, confidence, a column a tag, note) and RUN/errors-<split>.png;
    --tally SHEET prints each tag's share of the mistakes and its ceiling (error x share). Examples:
    dltool errors my-run | dltool errors my-run --n 50 --tags dog,blurry | dltool errors my-run --tally runs/my-run/errors-dev.csv
    """
    from dltool.errors import UserError
    from dltool.runs import find_run
    from dltool.sheet import DEFAULT_N, DEFAULT_TAGS, make_sheet, tally_sheet

    run_dir = find_run(run, runs_dir)
    if tally is not None:
        given = [name for name, value in (("--n", n), ("--tags", tags), ("--seed", seed), ("--force", force or None),
                                          ("overrides", overrides or None)) if value is not None]
        if given:
            raise UserError(f"--tally reads a filled sheet: {' and '.join(given)} "
                            f"appl{'ies' if len(given) == 1 else 'y'} to sampling a new one")
        result = tally_sheet(run_dir, tally, split)
    else:
        result = make_sheet(run_dir, split or "dev", DEFAULT_N if n is None else n, DEFAULT_TAGS if tags is None
                            else tags, 0 if seed is None else seed, force=force, overrides=overrides or ())
        warn_unfinished(run_dir)
    if json_out:
        print_json(result)
    else:
        from dltool.sheet_report import print_sheet, print_tally

        (print_tally if tally is not None else print_sheet)(result)


@command
def style(
    content: Annotated[Optional[str], typer.Option(help="Content image C: a PNG or JPEG, or china / flower (scikit-learn's sample photographs); default china.", show_default=False)] = None,
    style_image: Annotated[Optional[str], typer.Option("--style", help="Style image S, as --content; default flower.", show_default=False)] = None,
    features: Annotated[Optional[str], typer.Option(help="A run whose CNN gives the features (its best checkpoint); default a fixed random conv net seeded by --seed.", show_default=False)] = None,
    alpha: Annotated[float, typer.Option(help="Weight of the content cost in J = alpha J_content + beta J_style.")] = 10.0,
    beta: Annotated[float, typer.Option(help="Weight of the style cost.")] = 40.0,
    steps: Annotated[int, typer.Option(help="Adam steps on the pixels of G.")] = 300,
    lr: Annotated[float, typer.Option(help="Adam's learning rate (pixels are in [0, 1]).")] = 0.02,
    size: Annotated[int, typer.Option(help="Side of the square C, S and G are cropped and resized to.")] = 128,
    layers: Annotated[Optional[str], typer.Option(help="Style layers, LAYER or LAYER=WEIGHT separated by commas, e.g. features.0,features.1; default every conv block, equal weights.", show_default=False)] = None,
    content_layer: Annotated[Optional[str], typer.Option(help="The content cost's layer; default the middle conv block.", show_default=False)] = None,
    init: Annotated[str, typer.Option(help="G starts from content (C plus a little noise) or noise.")] = "content",
    seed: Annotated[int, typer.Option(help="Seed of the noise and of the random net: same seed, same image.")] = 0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The image to write (.png), with FILE-loss.png, FILE-side_by_side.png and FILE.json beside it; default style/<time>/.", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(help="Name of the folder under style/ (instead of the time).", show_default=False)] = None,
    threads: Annotated[int, typer.Option(help="Torch threads (one is fastest at these sizes, and on a busy machine).")] = 1,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs (for --features).")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Neural style transfer (course 4; Gatys et al. 2015): optimize an image G so that its features match the
    content image's and its Gram matrices the style image's.

    Writes the image, its loss curve, content | style | result side by side, and style.json (settings, costs, time,
    the feature net). Examples: dltool style | dltool style --content me.jpg --style flower --steps 500 |
    dltool style --features my-cnn-run --output out.png
    """
    from dltool.style import style_transfer

    result = style_transfer(content=content, style=style_image, features=features, runs_dir=runs_dir, alpha=alpha,
                            beta=beta, steps=steps, lr=lr, size=size, layers=layers, content_layer=content_layer,
                            init=init, seed=seed, output=output, name=name, threads=threads,
                            progress=not json_out)
    if json_out:
        print_json(result)
    else:
        from dltool.style_report import print_style

        print_style(result)


@command
def sample(
    run: Annotated[str, typer.Argument(help="A task=lm run: a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    n: Annotated[int, typer.Option("--n", help="Names to draw.")] = 20,
    temperature: Annotated[float, typer.Option(help="Divides the scores before the softmax: below 1 safer names, above 1 stranger ones.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the draws: same seed, same names.")] = 0,
    max_length: Annotated[int, typer.Option(help="Characters a name at most (a name stops there if no end comes).")] = 30,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Draw new names from a language model (course 5's Dinosaurus Island), one character at a time from
    softmax(scores / temperature), and say which are new (not in the training split).

    Writes RUN/samples.txt. Examples: dltool sample my-lm-run | dltool sample my-lm-run --n 50 --temperature 0.7
    """
    from dltool.runs import find_run
    from dltool.sample import check_options, sample_run

    check_options(n, temperature, seed, max_length)  # before the run is looked up: a mistake in the options first
    run_dir = find_run(run, runs_dir)
    result = sample_run(run_dir, n=n, temperature=temperature, seed=seed, max_length=max_length)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
        return
    for name, new in zip(result["names"], result["new"]):
        typer.echo(name if new else f"{name}  (a training name)")
    typer.echo(f"{result['new_count']} of {result['n']} new (not among the {result['training_names']:,} training "
               f"names), temperature {result['temperature']:g}, seed {result['seed']}; wrote {result['path']}")


@command
def translate(
    run: Annotated[str, typer.Argument(help="A task=seq2seq run: a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    text: Annotated[str, typer.Argument(help="The text to translate, e.g. \"3rd of March 2002\".", show_default=False)],
    beam: Annotated[Optional[int], typer.Option(help="Beam width (1 = greedy search); default the run's task.beam.", show_default=False)] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Length normalization log P / T_y^alpha (0 = none); default the run's task.alpha.", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The attention map's PNG (or a folder for attention.png); default RUN/attention.png.", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Translate one text with a sequence-to-sequence run (course 5's date translation) by beam search, and draw the
    attention each output character paid to the input characters.

    Writes RUN/attention.png. Examples: dltool translate my-run "3rd of March 2002" | dltool translate my-run 23.01.18 --beam 1
    """
    from dltool.runs import find_run
    from dltool.translate import check_options, translate_run

    check_options(text, beam, alpha)  # before the run is looked up: a mistake in the options first
    run_dir = find_run(run, runs_dir)
    result = translate_run(run_dir, text, beam=beam, alpha=alpha, output=output)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
        return
    if result["unknown"]:
        typer.echo(f"not in the run's source vocabulary, read as <unk>: {' '.join(repr(c) for c in result['unknown'])}",
                   err=True)
    typer.echo(result["translation"])
    where = f"; attention map in {result['attention']}" if result["attention"] else ""
    typer.echo(f"P = {result['probability']:.4f} (beam {result['beam']}, alpha {result['alpha']:g}){where}")


@command
def tag(
    run: Annotated[str, typer.Argument(help="A task=tag run: a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    text: Annotated[str, typer.Argument(help="The sentence to tag, e.g. \"Yesterday Teddy Roosevelt flew to Paris\".", show_default=False)],
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Tag each word of a sentence with a named-entity tagger (course 5's named-entity recognition) and name the
    entities its BIO tags make.

    Examples: dltool tag my-ner-run "Yesterday Teddy Roosevelt flew to Paris" | dltool tag my-ner-run "Mr Smith works for Acme" --json
    """
    from dltool.runs import find_run
    from dltool.tagging import check_text, tag_run

    check_text(text)  # before the run is looked up: a mistake in the text first
    run_dir = find_run(run, runs_dir)
    result = tag_run(run_dir, text)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
        return
    if result["unknown"]:
        typer.echo(f"not in the run's vocabulary, read as <unk>: {' '.join(result['unknown'])}", err=True)
    width = max(len(w["word"]) for w in result["words"])
    for w in result["words"]:
        typer.echo(f"{w['word']:<{width}}  {w['tag']:<7} {w['probability']:.3f}{'  <unk>' if w['unknown'] else ''}")
    found = "; ".join(f"{e['type']}: {e['text']}" for e in result["entities"]) or "none"
    typer.echo(f"entities: {found}")
