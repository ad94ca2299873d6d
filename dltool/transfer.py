"""Transfer learning (course 3): start a net from another run's best weights, all but its head, and freeze what
should not learn.

``model.init_from=RUN`` (a run folder) copies every tensor of that run's net except the head (``net.head.*``), which
is left as built for this run's outputs: a net pretrained on a large task gives its features to a small one, and
only the new task's head starts from scratch. ``model.freeze`` chooses what trains: ``none`` (fine-tune everything),
``backbone`` (the head only: the course's advice for little data), or ``N`` (the head and the last N blocks of the
net's ``features`` that hold weights, a conv net's conv blocks, a ResNet's residual blocks, an MLP's linear (and batch
norm) layers: more data, more layers retrained). Frozen parts keep their batch-norm statistics too (they stay
in eval mode while the rest trains).

A word-embedding run (task=embed: skip-gram or GloVe) given as ``model.init_from`` to a net that reads words (a
task whose ``info`` holds its word ``vocabulary``: task=tag, or sentence classification on data=polarity) gives its word vectors instead (course 5: embeddings
learned on a large corpus, transferred to a task with few labelled sentences): each word of this run's vocabulary
that the embedding run knows starts from its vector, the others (and ``<pad>``, ``<unk>``) as built.
``model.freeze=embedding`` then keeps those vectors as they are, or they are fine-tuned with the rest.
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError, check_number

HEAD = "head."  # every registered net (dltool.models.base.Net) names its output layer(s) ``head``


def init_from(net, run: str, model: str, info: dict | None = None) -> str:
    """Load run ``run``'s best weights into ``net`` (a model named ``model``) except the head, or a word-embedding
    run's vectors into its word embedding (``info``: the data's, with the ``vocabulary`` of a net that reads words);
    return the run's absolute path. One UserError line for a run that is missing, of another model, or whose shapes
    do not fit."""
    from dltool.checkpoints import load as load_checkpoint
    from dltool.runs import is_run

    folder = Path(run)
    if not is_run(folder):
        raise UserError(f"model.init_from={run}: no run folder there (a run folder holds config.yaml and metrics.json)")
    best = folder / "checkpoints" / "best.ckpt"
    if not best.is_file():
        raise UserError(f"model.init_from={run}: the run has no checkpoints/best.ckpt")
    checkpoint = load_checkpoint(best)
    source = ((checkpoint.get("config") or {}).get("model") or {}).get("name")
    if ((checkpoint.get("config") or {}).get("task") or {}).get("name") == "embed":
        return word_vectors_into(net, checkpoint, run, folder, (info or {}).get("vocabulary"))
    if source != model:
        raise UserError(f"model.init_from={run}: that run trained model {source}, not {model}")
    weights = {k[len("net."):]: v for k, v in checkpoint["state_dict"].items()
               if k.startswith("net.") and not k.startswith(f"net.{HEAD}")}
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(HEAD)}
    for key in sorted(set(own) | set(weights)):
        if key not in weights or key not in own:
            where = "this model" if key not in own else f"run {folder.name}"
            raise UserError(f"model.init_from={run}: {key} is missing from {where}; the nets differ (compare "
                            "their model settings)")
        if weights[key].shape != own[key].shape:
            raise UserError(f"model.init_from={run}: {key} is {tuple(weights[key].shape)} there and "
                            f"{tuple(own[key].shape)} here (the nets' settings or inputs differ)")
    missing, _ = net.load_state_dict(weights, strict=False)
    assert all(k.startswith(HEAD) for k in missing)  # checked above: only the head stays as built
    return str(folder.resolve())


def word_vectors_into(net, checkpoint: dict, run: str, folder: Path, vocabulary) -> str:
    """Copy the vectors of an embedding run's checkpoint into ``net.embed`` for the words of ``vocabulary`` it knows;
    the rest of the net stays as built. Words are matched as written (both lowercase by default)."""
    import torch

    from dltool.embeddings import checkpoint_vectors
    from dltool.models import check_words

    embedding = getattr(net, "embed", None)
    if vocabulary is None or not isinstance(embedding, torch.nn.Embedding):
        raise UserError(f"model.init_from={run}: a word-embedding run starts a net that reads words (task=tag "
                        "model=brnn_tagger; data=polarity model=word_average or word_lstm), not this one")
    words, vectors = checkpoint_vectors(checkpoint, checkpoint["config"]["model"])
    if vectors.shape[1] != embedding.embedding_dim:
        raise UserError(f"model.init_from={run}: its word vectors have {vectors.shape[1]} dimensions and this net's "
                        f"embedding {embedding.embedding_dim}: set model.embedding={vectors.shape[1]}")
    check_words(net, vocabulary)
    index = {w: i for i, w in enumerate(words)}
    pairs = [(row, index[w]) for row, w in enumerate(vocabulary) if w in index]
    if not pairs:
        raise UserError(f"model.init_from={run}: none of this run's {len(vocabulary)} words is in its vocabulary")
    rows, ids = (torch.tensor(c) for c in zip(*pairs))
    with torch.no_grad():
        embedding.weight[rows] = vectors[ids].to(embedding.weight.dtype)
    return str(folder.resolve())


def freeze(net, how) -> list:
    """Stop the gradients of what ``how`` freezes (see the module doc); return the frozen modules."""
    if how == "none":
        return []
    if how == "embedding":
        embedding = getattr(net, "embed", None)
        if embedding is None:
            raise UserError("model.freeze=embedding: this net has no word embedding (net.embed) to freeze")
        frozen = [embedding]
        for p in embedding.parameters():
            p.requires_grad_(False)
        return frozen
    if how == "backbone":
        frozen = [m for name, m in net.named_children() if name != "head"]
    else:
        n = check_number(how, "model.freeze (none, backbone, embedding or a number of blocks)", low=0, integer=True)
        features = getattr(net, "features", None)
        if not hasattr(features, "__len__"):
            raise UserError(f"model.freeze={n}: this net has no sequence of blocks (features) to count; use "
                            "model.freeze=backbone or none")
        blocks = [b for b in features if any(True for _ in b.parameters())]  # pools and activations do not count
        if n > len(blocks):
            raise UserError(f"model.freeze={n}: the net's features have only {len(blocks)} blocks with weights")
        frozen = blocks[:len(blocks) - n]
        frozen += [m for name, m in net.named_children() if name not in ("head", "features", "pool")]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen
