"""``dltool embeddings``: a word-embedding run's vectors (task=embed; course 5, week 2) asked for nearest neighbours,
analogies, a 2-D map or an export in the word2vec format. Registered on the one app of dltool.cli_base like the
tools of dltool.cli_tools; heavy imports stay inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltool.cli_base import Json, command, print_json, warn_unfinished


@command
def embeddings(
    run: Annotated[str, typer.Argument(help="A task=embed run: a run name in --runs-dir, or a path to a run folder.", show_default=False)],
    neighbours: Annotated[Optional[list[str]], typer.Option("--neighbours", help="A word whose nearest neighbours (cosine) to print; repeatable.", show_default=False)] = None,
    analogy: Annotated[Optional[list[str]], typer.Option("--analogy", help="\"A B C\": A is to B as C is to ? (e_B - e_A + e_C, nearest by cosine); repeatable.", show_default=False)] = None,
    map_words: Annotated[Optional[str], typer.Option("--map", help="Words to place on a 2-D PCA map, e.g. \"king,queen,man,woman,paris,france\" (with --out).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The PNG that --map writes.", show_default=False)] = None,
    export: Annotated[Optional[Path], typer.Option("--export", help="Write every word's vector in the word2vec text format (gensim's KeyedVectors.load_word2vec_format reads it).", show_default=False)] = None,
    topn: Annotated[int, typer.Option(help="Neighbours a word.", min=1)] = 10,
    debias: Annotated[bool, typer.Option("--debias", help="Neutralize and equalize along the gender direction first (Bolukbasi et al. 2016); the other options then read the debiased vectors.")] = False,
    runs_dir: Annotated[Path, typer.Option(help="Folder that holds the runs.")] = Path("runs"),
    json_out: Json = False,
) -> None:
    """Nearest neighbours, analogies, a 2-D map and a word2vec export of a word-embedding run's vectors; with no
    option, their WordSim-353 Spearman correlation and analogy accuracy.

    Examples: dltool embeddings my-sg-run --neighbours king --analogy "man woman king" | dltool embeddings my-sg-run --map king,queen,man,woman --out map.png | dltool embeddings my-sg-run --export vectors.txt
    """
    from dltool.embeddings import embeddings_run
    from dltool.runs import find_run

    run_dir = find_run(run, runs_dir)
    result = embeddings_run(run_dir, neighbours or (), analogy or (), map_words, out, export, topn, debias)
    warn_unfinished(run_dir)
    if json_out:
        print_json(result)
        return
    echo = typer.echo
    if "debias" in result:
        d = result["debias"]
        echo(f"debiased: gender direction from {len(d['direction_pairs'])} pairs ({d['method']}), {d['neutralized']:,} "
             f"words neutralized, {len(d['equalized'])} pairs equalized; cosine with it, before -> after:")
        def c(x: float) -> str:  # -0.000 from rounding noise reads as +0.000
            return f"{round(x, 3) + 0.0:+.3f}"

        for word, v in d["occupations"].items():
            echo(f"  {word:<18} {c(v['before'])} -> {c(v['after'])}")
        for e in d["equalized"]:
            echo(f"  {' / '.join(e['pair']):<18} {c(e['before'][0])} {c(e['before'][1])} -> {c(e['after'][0])} "
                 f"{c(e['after'][1])}")
    for word, near in (result.get("neighbours") or {}).items():
        echo(f"{word}: " + ", ".join(f"{n['word']} {n['cosine']:.3f}" for n in near))
    for q in result.get("analogies") or []:
        a, b, c = q["question"]
        echo(f"{a} : {b} :: {c} : " + ", ".join(f"{n['word']} ({n['cosine']:.3f})" for n in q["answers"]))
    if "map" in result:
        echo(f"map of {len(map_words.replace(',', ' ').split())} words in {result['map']['path']}")
    if "export" in result:
        echo(f"{result['words']:,} vectors of {result['dim']} numbers in the word2vec text format: {result['export']}")
    if "wordsim353" in result:
        from dltool.report_runs import embedding_line

        echo(embedding_line({"wordsim353": result["wordsim353"], "analogies": result["analogy_questions"]}))
