"""``embeddings_run(run, ...)``: what a trained embed run's word vectors say (task=embed; course 5, week 2): nearest
neighbours by cosine similarity, analogies by the course's rule (e_b - e_a + e_c, nearest by cosine, the three
question words excluded), a 2-D map of chosen words (the first two principal components of their unit vectors,
scikit-learn's PCA), the vectors in the word2vec text format (which gensim's ``KeyedVectors.load_word2vec_format``
reads), and with nothing asked, WordSim-353 and the analogy questions (dltool.word_vectors). ``--debias`` first
applies the course's three steps (dltool.debias: a gender direction from gendered pairs, neutralization of every
other word, equalization of pairs), reports each occupation word's cosine with that direction before and after, and
everything asked after it (neighbours, analogies, the map, the export) reads the debiased vectors.

The vectors are the best checkpoint's net's own (``vectors()``: skip-gram's target table, GloVe's (theta + e) / 2),
rebuilt from the run's config and checkpoint alone: the corpus is not read again.
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError, choices
from dltool.runs import read_config, run_name

HOW = "train one with: dltool train task=embed data=wiki model=skipgram"


def load_vectors(run_dir) -> tuple[list[str], object]:
    """The vocabulary (most frequent first) and the (V, d) float32 numpy vectors of the run's best checkpoint."""
    from dltool.checkpoints import load as load_checkpoint

    run_dir = Path(run_dir)
    config = read_config(run_dir) or {}
    task = (config.get("task") or {}).get("name", "classify")
    if task != "embed":
        raise UserError(f"run {run_name(run_dir)} learned task={task}: dltool embeddings needs word vectors "
                        f"(task=embed); {HOW}")
    path = run_dir / "checkpoints" / "best.ckpt"
    if not path.is_file():
        raise UserError(f"run {run_name(run_dir)} has no checkpoints/best.ckpt: it ended before its first epoch")
    checkpoint = load_checkpoint(path)
    try:
        words, vectors = checkpoint_vectors(checkpoint, config["model"])
    except RuntimeError as e:
        raise UserError(f"checkpoint {path} does not fit the model of run {run_name(run_dir)}") from e
    return words, vectors.float().numpy()


def checkpoint_vectors(checkpoint: dict, model: dict) -> tuple[list[str], object]:
    """The vocabulary and the (V, d) torch vectors of an embed run's checkpoint, its net (``model``: the run's model
    config) rebuilt and asked for ``vectors()``; a RuntimeError where the weights do not fit that net."""
    import torch

    from dltool.models import create_model, net_arguments

    words = [str(w) for w in (checkpoint.get("info") or {}).get("classes") or []]
    net = create_model(model["name"], (1,), len(words), **net_arguments(model))  # the row length is not a weight
    net.load_state_dict({k[len("net."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("net.")})
    with torch.no_grad():
        return words, net.vectors().detach()


def parse_words(text: str, what: str) -> list[str]:
    """Words separated by spaces or commas; a UserError for none."""
    words = [w for w in str(text).replace(",", " ").split() if w]
    if not words:
        raise UserError(f"give words for {what}, e.g. \"man woman king\"")
    return words


def parse_analogy(text: str) -> tuple[str, str, str]:
    """``"man woman king"`` -> (a, b, c): "a is to b as c is to ?"; a UserError unless exactly three words."""
    words = parse_words(text, "--analogy")
    if len(words) != 3:
        raise UserError(f"bad analogy {text!r}: give three words A B C (A is to B as C is to ?), e.g. "
                        f"--analogy \"man woman king\"")
    return words[0], words[1], words[2]


def check_known(words: list[str], asked) -> None:
    """A UserError naming the first asked word the vocabulary lacks (lowercase lookup, as the corpus was read)."""
    from dltool.word_vectors import lookup

    known = lookup(words)
    for word in asked:
        if word.lower() not in known:
            raise UserError(f"'{word}' is not in the run's vocabulary of {len(words):,} words (the most frequent: "
                            f"{choices(words[:8])}, ...)")


def write_map(path: Path, words: list[str], vectors, chosen: list[str], title: str) -> dict:
    """A PNG of the chosen words at the first two principal components of their unit vectors; returns the
    components' explained variance ratios."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA

    from dltool.runs import write_atomic
    from dltool.word_vectors import lookup, normalize

    index = lookup(words)
    points = normalize(np.asarray(vectors)[[index[w.lower()] for w in chosen]])
    pca = PCA(n_components=2, random_state=0)  # deterministic (full SVD for so few points)
    xy = pca.fit_transform(points)
    figure = Figure(figsize=(6, 5))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=12)
    ax.margins(x=0.15, y=0.08)  # room for the labels right of the points
    for (x, y), word in zip(xy, chosen):
        ax.annotate(word, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=9)
    ratio = pca.explained_variance_ratio_.tolist()
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%})")
    ax.set_title(title, fontsize=10)
    figure.tight_layout()
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    return {"path": str(path), "explained_variance_ratio": ratio}


def embeddings_run(run_dir, neighbours=(), analogy=(), map_words=None, out=None, export=None, topn: int = 10,
                   debias: bool = False) -> dict:
    """What the options ask of run ``run_dir``'s vectors (see the module doc); WordSim and analogy figures when
    nothing is asked. Every mistake (words, an analogy, options) is checked before anything is written."""
    from dltool import word_vectors as wv

    run_dir = Path(run_dir)
    if (map_words is None) != (out is None):
        raise UserError("--map WORDS and --out FILE.png go together: the words to place and the picture to write")
    if out is not None and Path(out).suffix.lower() != ".png":
        raise UserError(f"--out {out}: the map is a PNG; give a path ending in .png")
    questions = [parse_analogy(text) for text in analogy]
    chosen = parse_words(map_words, "--map") if map_words is not None else []
    if map_words is not None and len(chosen) < 3:
        raise UserError(f"--map needs at least three words to place on two axes; got {len(chosen)}")
    words, vectors = load_vectors(run_dir)
    check_known(words, [*neighbours, *(w for q in questions for w in q), *chosen])
    result: dict = {"run": run_name(run_dir), "words": len(words), "dim": int(vectors.shape[1])}
    if debias:
        from dltool.debias import GENDER_PAIRS, debias as hard_debias

        vectors, result["debias"] = hard_debias(words, vectors, GENDER_PAIRS)
    if neighbours:
        result["neighbours"] = {w: [{"word": n, "cosine": c} for n, c in wv.nearest(words, vectors, w, topn)]
                                for w in neighbours}
    if questions:
        result["analogies"] = [{"question": list(q), "answers": [{"word": n, "cosine": c}
                                                                 for n, c in wv.analogy(words, vectors, *q, topn=3)]}
                               for q in questions]
    if chosen:
        result["map"] = write_map(Path(out), words, vectors, chosen, f"run {run_name(run_dir)}: PCA of {len(chosen)} "
                                                                     f"word vectors")
    if export is not None:
        wv.write_word2vec(Path(export), words, vectors)
        result["export"] = str(export)
    if not (neighbours or questions or chosen or export is not None or debias):
        result["wordsim353"] = wv.similarity(words, vectors, wv.wordsim353())
        result["analogy_questions"] = wv.analogies(words, vectors, wv.analogy_questions())
    return result
