"""What to try for each gap of course 3's error analysis (dltool.diagnose finds the gap): the course's remedies, each
with a ready command where a config change applies it (the run's own config plus one override), and the remedies
for a run that diverges or that its logistic-regression baseline beats.

Pure functions on a run's config (a dict) and its folder name: nothing here reads a file.
"""

from __future__ import annotations

from pathlib import Path

# the tasks whose examples are each right or wrong, so that dltool errors can sample their mistakes into a sheet (a
# test holds them to the tasks whose Task has ``mistakes``)
SHEET_TASKS = ("classify", "multilabel", "seq2seq", "ctc", "tag")


def sized_l2(opt: dict, n_train: int | None = None) -> str:
    """The L2 strength to try against overfitting: 10 / ``n_train`` (or ten times the run's, if larger); without a
    training-set size, l2_override's."""
    if not n_train:
        return l2_override(opt)
    return f"optimizer.weight_decay={max(float(f'{10 / n_train:.1g}'), 10 * opt.get('weight_decay', 0)):g}"


def l2_override(opt: dict) -> str:
    """The next L2 strength to try: ten times the run's, or 1e-4."""
    wd = opt.get("weight_decay", 0)
    return f"optimizer.weight_decay={wd * 10 if wd else 1e-4:g}"


def dropout_override(model: dict) -> str:
    """The next dropout to try: keep 0.8 of the units, or 0.1 fewer than the run (not under 0.5)."""
    keep = _keep(model)
    return f"model.keep_prob={0.8 if keep >= 1 else max(0.5, round(keep - 0.1, 2)):g}"


def divergence_remedies(config: dict | None = None, run: str | None = None) -> list[str]:
    """What makes a diverging run stable (course 2): a smaller learning rate first, then clipped gradients."""
    opt = (config or {}).get("optimizer") or {}
    lower = f"optimizer.lr={opt['lr'] / 10:g}" if isinstance(opt.get("lr"), (int, float)) else None
    ready = config is not None and run is not None

    def rec(text: str, override: str | None) -> str:
        return f"{text}: `dltool train --config {run}/config.yaml {override}`" if ready and override else text

    return [rec("Lower the learning rate (a tenth)", lower),
            rec("Clip the gradient norm", "trainer.gradient_clip=1.0"),
            "Check the inputs for huge or non-finite values (normalization on: data.normalize=true)"]


def recommendations(gap: str, config: dict | None = None, run: str | None = None,
                    n_train: int | None = None) -> list[str]:
    """Course 3's remedies for one gap. With the run's ``config`` and folder, each remedy that a config change can
    apply comes with a ready command: the run's own config plus one override. With ``n_train`` (training examples)
    L2 is sized to the data (sized_l2: on MNIST-1D 10 / 3000 took dev error to 0.340, 1e-4 to 0.388, none 0.403)."""
    cfg = config or {}
    model, data, opt, trainer = (cfg.get(k) or {} for k in ("model", "data", "optimizer", "trainer"))
    task = (cfg.get("task") or {}).get("name", "classify")
    recs: list[str] = []

    def rec(text: str, override: str | None = None) -> None:
        if config is not None and run is not None and override:
            text += f": `dltool train --config {run}/config.yaml {override}`"
        recs.append(text)

    if gap == "avoidable_bias":
        if task == "embed" and isinstance(model.get("dim"), int):
            rec("Bigger vectors (more numbers a word)", f"model.dim={2 * model['dim']}")
        elif isinstance(model.get("hidden"), list):
            bigger = ",".join(str(2 * h) for h in model["hidden"]) or "100"
            rec("Bigger model (more hidden units)", f"model.hidden=[{bigger}]")
        elif isinstance(model.get("channels"), list):
            rec("Bigger model (more channels)", f"model.channels=[{','.join(str(2 * c) for c in model['channels'])}]")
        else:
            rec("Bigger model (more layers or units)")
        longer = f"trainer.max_epochs={2 * trainer.get('max_epochs', 30)}"
        if config is not None and run is not None and (cfg.get("scheduler") or {}).get("name") != "cosine":
            # from where the run ended: dltool train --resume trains a finished run longer (cosine anneals over the
            # horizon: a longer run would be another run, trained anew)
            recs.append(f"Train longer: `dltool train --resume {run} {longer} --name {Path(run).name}-longer`")
        else:
            rec("Train longer", longer)
        if opt.get("name") in ("sgd", "momentum", "rmsprop") or config is None:
            rec("Better optimization algorithm (momentum, RMSprop, Adam)", "optimizer=adam")
        if _keep(model) < 1:
            rec("Less regularization (no dropout)", "model.keep_prob=1.0")
        if opt.get("weight_decay", 0) > 0:
            rec("Less regularization (no L2)", "optimizer.weight_decay=0")
        # the model's own space (every model has one), unless the optimizer is not the Adam the mlp space tunes
        space = "" if model.get("name") != "mlp" or opt.get("name") == "adam" else " search=lr"
        tune = f"`dltool tune --config {run}/config.yaml{space} --stages coarse:20,fine:10`"
        recs.append("Better architecture or hyperparameters: search them, learning rate first"
                    + (f": {tune}" if config is not None and run else ""))
    elif gap == "variance" and task == "embed":  # word vectors: more text, not labels; no dropout, no augmentation
        rec("More text: a larger corpus (data.path=FILE, plain text, one document a line)")
        if isinstance(model.get("dim"), int) and model["dim"] > 1:
            rec("Smaller vectors (fewer numbers a word to fit)", f"model.dim={model['dim'] // 2}")
        rec("L2 regularization", sized_l2(opt, n_train))
        if not trainer.get("patience"):
            rec("Early stopping on dev error", "trainer.patience=2")
    elif gap == "variance":
        generator = data.get("generator") or {}
        more = f"data.generator.num_samples={2 * generator['num_samples']}" if "num_samples" in generator else \
            f"data.n={2 * data['n']}" if isinstance(data.get("n"), int) else None  # generated data: more of it
        if config is not None and run is not None and n_train and n_train >= 8:  # will more data help? ask a curve
            sizes = ",".join(str(n_train // k) for k in (8, 4, 2, 1))
            recs.append(f"Learning curve first, to see whether more data helps: `dltool curve --config "
                        f"{run}/config.yaml --sizes {sizes}`")
        rec("More training data" + ("" if more else ": collect more labelled examples like the training set"), more)
        if "words" in model and "embedding" in model and not model.get("init_from"):  # course 5: borrow vectors
            vectors = f"{Path(run).parent}/vectors" if run else "runs/vectors"
            recs.append(f"Word vectors learned on a larger corpus: `dltool train task=embed model=skipgram data=wiki "
                        f"model.dim={model['embedding']} --name vectors`, then start from them: "
                        + (f"`dltool train --config {run}/config.yaml model.init_from={vectors} model.freeze=embedding`"
                           if config is not None and run else "model.init_from=RUN model.freeze=embedding"))
        rec("L2 regularization", sized_l2(opt, n_train))
        rec("Dropout" if "keep_prob" in model or config is None else "Dropout (this model has no keep_prob)",
            dropout_override(model) if "keep_prob" in model else None)
        if not trainer.get("patience"):
            rec("Early stopping on dev error", "trainer.patience=10")
        loader = data.get("loader")
        shift = {"mnist1d": "data.augment.shift=4 ", "digits": "data.augment.shift=1 "}.get(loader, "")
        rec("Data augmentation: more varied training examples", f"{shift}data.augment.noise=0.1" if "augment" in data else None)
    elif gap == "data_mismatch":
        where = run or "RUN"
        if task == "verify" and data.get("unseen"):  # dev and test hold identities training never saw, by design
            recs.append(f"Dev and test hold identities never seen in training (data.unseen=[{','.join(map(str, data['unseen']))}]): this "
                        "gap is how far the embedding falls short on new identities, one-shot learning's question")
            rec("Harder triplets, mined in each batch", "task.mining=semi_hard" if cfg["task"].get("mining") != "semi_hard"
                else "task.mining=hard")
            rec("A larger margin between identities", f"task.margin={2 * cfg['task'].get('margin', 0.2):g}")
        if task not in SHEET_TASKS:  # no example is right or wrong as a whole: look at the predictions
            recs.append("Error analysis: compare the predictions on dev with those on train-dev "
                        f"(`dltool evaluate {where} --split dev`, then `--split train_dev`)")
        else:  # the course's sheet of mistakes, tagged by hand, on each of the two splits
            recs.append("Error analysis: tag and count the mistakes on dev and on train-dev "
                        f"(`dltool errors {where} --split dev`, then `--split train_dev`)")
        # a second distribution to move into training: mnist1d_shift's target settings, a CSV's target_path
        if "target_in_train" in data and (isinstance(data.get("target"), dict) or data.get("target_path")):
            rec("Make training data more like dev/test", f"data.target_in_train={max(500, 2 * data.get('target_in_train', 0))}")
        else:
            rec("Make training data more like dev/test: collect such examples for training")
        rec("Artificial data synthesis: make training examples under dev/test's conditions (beware synthesizing "
            "from a small subset of all the conditions)")
    elif gap == "dev_overfitting":
        dev = (data.get("split") or {}).get("dev") or 0.15
        rec("Bigger dev set", f"data.split.dev={min(0.4, round(2 * dev, 3)):g}")
    return recs


def _keep(model: dict) -> float:
    keep = model.get("keep_prob", 1.0)
    return min(keep) if isinstance(keep, list) else keep


def baseline_remedies(config: dict | None = None, run: str | None = None, n_train: int | None = None) -> list[str]:
    """What brings a deep model back to its logistic-regression baseline, each a ready command with the run's config.
    Measured on three tables of a few hundred rows (README; 10 seeds each), where the default MLP's mean test error
    was behind the baseline's on two: L2 sized to the data, ``optimizer.weight_decay`` = 10 / ``n_train`` (ten times
    the baseline's own penalty, 1 / (C n_train) with C = 1), reaches it on all three with dropout; 1e-4 (the variance
    remedy's first step), early stopping (the best checkpoint is the best dev epoch already) and a smaller model did
    not. Last, the linear model itself: the MLP without hidden layers is a logistic regression."""
    cfg = config or {}
    model, opt = cfg.get("model") or {}, cfg.get("optimizer") or {}
    recs: list[str] = []

    def rec(text: str, override: str | None = None) -> None:
        if config is not None and run is not None and override:
            text += f": `dltool train --config {run}/config.yaml {override}`"
        recs.append(text)

    l2 = sized_l2(opt, n_train)
    rec("Stronger L2 regularization" + (f", sized to the data (10 / {n_train} training examples)" if n_train else ""),
        l2)
    if "keep_prob" in model:
        rec("L2 and dropout together", f"{l2} {dropout_override(model)}")
    hidden = model.get("hidden")
    if model.get("name") == "mlp" and isinstance(hidden, list) and hidden:
        own = f" optimizer.weight_decay={1 / n_train:.2g}" if n_train else ""
        rec("Or the linear model itself: the MLP without hidden layers is a logistic regression"
            + (" (with the baseline's L2 penalty)" if own else ""), f"model.hidden=[]{own}")
    return recs
