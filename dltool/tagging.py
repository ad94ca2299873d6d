"""``tag_run(run, text)``: one sentence through a trained named-entity tagger (task=tag): each word with its tag and
the entities the tags make (dltool.tasks.tag's CoNLL rule).

The text is split into words as the run's data split its sentences (dltool.data.entities.tokenize), each word looked
up as the data did (lowercased if ``data.lowercase``); a word the run's training vocabulary lacks is ``<unk>`` to the
net (named in the result: its tag then rests on its shape, Xx, X, x, d, ..., and on the words around it).
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError
from dltool.runs import read_config, run_name

HOW = "train one with: dltool train task=tag data=entities model=brnn_tagger"


def check_text(text) -> str:
    """The text, stripped; a UserError for an empty one."""
    text = (text or "").strip()
    if not text:
        raise UserError("give a sentence to tag, e.g. dltool tag RUN \"Yesterday Teddy Roosevelt flew to Paris\"")
    return text


def tag_run(run_dir, text: str) -> dict:
    """Tag ``text`` with the best checkpoint of ``run_dir`` (a task=tag run)."""
    import torch

    from dltool.data.entities import UNK, shape, tokenize
    from dltool.restore import restore
    from dltool.tasks.tag import entities

    text = check_text(text)
    run_dir = Path(run_dir)
    task = ((read_config(run_dir) or {}).get("task") or {}).get("name", "classify")
    if task != "tag":
        raise UserError(f"run {run_name(run_dir)} learned task={task}: dltool tag needs a tagger (task=tag); {HOW}")
    words = tokenize(text)
    if not words:
        raise UserError(f"the text {text!r} has no word to tag")
    setup, module = restore(run_dir)
    info = setup.data.info
    ids = {w: i for i, w in enumerate(info["words"])}
    known = set(info["vocabulary"])
    looked = [w.lower() if info.get("lowercase") else w for w in words]
    x = torch.tensor([[[ids.get(w, UNK), shape(word)] for w, word in zip(looked, words)]], dtype=torch.long)
    with torch.no_grad():
        out = module.predict(x.to(setup.fabric.device))
    tags = [str(info["classes"][int(i)]) for i in out["predicted"][0].tolist()]
    probability = out["probability"][0].max(dim=1).values.tolist()
    found = sorted(entities(tags), key=lambda e: e[1])
    return {"run": run_name(run_dir), "text": text,
            "words": [{"word": w, "tag": t, "probability": round(p, 6), "unknown": lw not in known}
                      for w, lw, t, p in zip(words, looked, tags, probability)],
            "entities": [{"type": kind, "text": " ".join(words[a:b]), "start": a, "end": b} for kind, a, b in found],
            "unknown": [w for w, lw in zip(words, looked) if lw not in known]}
