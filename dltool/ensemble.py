"""The course's tricks for benchmarks and competitions (course 4, "Tips for doing well on benchmarks/winning
competitions"), for ``dltool evaluate``: **ensembling** (train several networks independently, average their
outputs) and **multi-crop at test time** (run the classifier on several crops of each test example, average the
results). Both cost compute at every prediction, which is why the course keeps them for benchmarks, not production;
so each is reported beside the single model, with its latency.

- Ensemble (``--ensemble RUN2 --ensemble RUN3``): every member is restored from its own best checkpoint, with its own
  input normalization (the mean and std of its checkpoint), and scored on the same examples; the members' class
  probabilities are averaged (softmax for task=classify, each label's sigmoid for task=multilabel), the answer is
  the argmax of the mean (each label's mean >= 0.5). The members must share the data: the same data config (save
  ``augment`` and ``normalize``, which only shape training) and the same split seed (``data.split.seed``, or the run
  seed where that is unset), and then the same split, which is checked example for example. Its latency is the sum of
  the members'.
- Multi-crop test-time augmentation (``--tta N``): N views of each example, shifted by whole steps, zero-filled, in
  standardized units, the way training's ``data.augment.shift`` moves its batches (dltool.augment.shift_by), and the
  probabilities averaged over the views. The offsets are fixed, no randomness: for a signal the unshifted view, then
  pairs -d, +d spread evenly out to the largest shift s (N = 5, s = 4: 0, -2, 2, -4, 4); for an image the centre, then
  its four corners (dy, dx) = (+-s, +-s) and the four edge middles, the 3 x 3 grid of {-s, 0, s}^2: the four corners
  and the centre are the five crops of Krizhevsky et al. 2012 ("ImageNet classification with deep convolutional
  neural networks", section 4.1: ten patches, those five and their mirror images; mirroring is left out, as it turns
  a digit or a signal into another one). s is the run's ``data.augment.shift`` where set: the shifts the net was
  trained to take; else a twentieth of the longest shifted axis, at least 1 step (2 of MNIST-1D's 40 steps, 1 pixel of
  an 8 x 8 digit, the least shift there is). Small on purpose: a net trained without shifts knows an example only at
  the positions the data itself puts it (MNIST-1D's generator translates each digit, ``max_translation``, before
  resampling to 40 steps, so a few steps stay inside what training saw), and a view shifted further scores inputs
  the net never met. What it gains or loses is measured, not assumed (README, ``dltool evaluate``).

Pure functions (``average``, ``view_offsets``, ``shifted``) and the evaluate integration (``check_request``,
``competition``); torch and numpy are imported inside, as in dltool.evaluate.
"""

from __future__ import annotations

from pathlib import Path

from dltool.errors import UserError, choices

TASKS = ("classify", "multilabel")  # the tasks whose outputs are probabilities to average
TRAINING_ONLY = ("augment", "normalize")  # data keys that shape training, never which examples a split holds
LOWER_IS_BETTER = ("error", "weighted_error")


def average(probabilities):
    """The mean over the first axis of a stack of probabilities (members, or views): (M, N, K) -> (N, K)."""
    import numpy as np

    stack = np.asarray(probabilities, dtype=np.float64)
    if stack.ndim < 2 or len(stack) == 0:
        raise ValueError(f"expected a non-empty stack of probabilities (M, N, ...), got shape {stack.shape}")
    return stack.mean(axis=0)


def default_shift(input_shape) -> int:
    """The largest view shift when the run trained without ``data.augment.shift``: a twentieth of the longest axis a
    shift moves along (the last one, or the last two of an image), at least one step."""
    shape = tuple(input_shape)
    sizes = [shape[d - 1] for d in range(max(1, len(shape) - 1), len(shape) + 1)]  # dltool.augment.shift_dims
    return max(1, round(max(sizes) / 20))


def max_views(shift: int, axes: int) -> int:
    """How many distinct views ``view_offsets`` has: 2 s + 1 along a signal, the 9 of the 3 x 3 grid on an image."""
    return 2 * shift + 1 if axes == 1 else 9


def view_offsets(n: int, shift: int, axes: int) -> list[tuple[int, ...]]:
    """The offsets of ``n`` views (one whole number per shifted axis), the unshifted view first; see the module
    docstring. A signal (``axes`` 1): 0, then -d_k, +d_k with d_k = round(k s / m), m = ceil((n - 1) / 2) (an even
    ``n`` leaves the last +s out); an image (``axes`` 2): the centre, the corners, the edge middles."""
    import math

    if n < 1 or n > max_views(shift, axes):
        raise ValueError(f"{n} views of shifts up to {shift} on {axes} axes: 1 to {max_views(shift, axes)} exist")
    if axes == 2:
        s = shift
        grid = [(0, 0), (-s, -s), (s, s), (-s, s), (s, -s), (-s, 0), (s, 0), (0, -s), (0, s)]  # symmetric pairs
        return grid[:n]
    m = math.ceil((n - 1) / 2)
    out = [(0,)]
    for k in range(1, m + 1):
        d = round(k * shift / m)
        out += [(-d,), (d,)]
    return out[:n]


def shifted(z, offset: tuple[int, ...]):
    """The batch ``z`` (standardized inputs) with every example shifted by ``offset`` (one whole number per axis that
    dltool.augment shifts), zero-filled; the unshifted view is ``z`` itself."""
    import torch

    from dltool.augment import shift_by, shift_dims

    for dim, step in zip(shift_dims(z), offset):
        if step:
            z = shift_by(z, torch.full((z.shape[0],), int(step), device=z.device), dim)
    return z


class _Views:
    """A restored run's probabilities over views: ``views(x)`` (V, B, K) float64; calling it (what latency times)
    gives their mean, the whole test-time computation of a batch."""

    def __init__(self, module, task: str, offsets):
        self.module, self.task, self.offsets = module, task, list(offsets)

    def views(self, x):
        import torch

        z = self.module.standardize(x)  # the normalization of Task.forward, hence of predict
        batch = torch.cat([shifted(z, offset) for offset in self.offsets])  # the views as one batch: one net call
        logits = self.module.net(batch).double()  # float64: no ties in the probabilities that the logits lack
        p = torch.softmax(logits, dim=1) if self.task == "classify" else torch.sigmoid(logits)
        return p.view(len(self.offsets), len(x), *p.shape[1:])

    def __call__(self, x):
        return self.views(x).mean(dim=0)

    def eval(self):
        self.module.eval()
        return self


def view_probabilities(setup, task: str, x, offsets):
    """(V, N, K) numpy probabilities of the restored run ``setup`` for inputs ``x`` over the views ``offsets``, in
    chunks under the run's precision, as dltool.restore.predict computes predictions."""
    import torch

    from dltool.loop import chunk

    views = _Views(setup.module.eval(), task, offsets)
    step = max(1, chunk(x) // len(offsets))  # a chunk's views are one batch: as large as evaluate's chunks
    with torch.no_grad(), setup.fabric.autocast():
        parts = [views.views(x[lo:lo + step]) for lo in range(0, len(x), step)]
    return torch.cat(parts, dim=1).cpu().numpy()


def decide(task: str, p) -> dict:
    """The predictions the task's scoring takes, from (N, K) averaged probabilities: for classify the argmax and its
    probability; for multilabel each label's yes (p >= 0.5), as the tasks' own ``predict`` answer."""
    import numpy as np

    if task == "classify":
        best = p.argmax(axis=1)
        return {"predicted": best, "confidence": p[np.arange(len(p)), best]}
    return {"probability": p, "predicted": (p >= 0.5).astype(np.int64),
            "confidence": np.maximum(p, 1 - p).prod(axis=1)}


def score(task: str, y_true, p, classes, metric: str, options: dict) -> float:
    """``metric`` of averaged probabilities ``p``, by the scoring code of a single run (dltool.scoring)."""
    from dltool.scoring import compute, multilabel_scores

    predictions = decide(task, p)
    if task == "classify":
        return compute(y_true, predictions["predicted"], classes, metric, **options)["value"]
    return multilabel_scores(y_true, predictions, classes, metric)[0]["value"]


def check_request(run_dir, task: str, members, tta) -> list[Path]:
    """The other members' run folders, checked before anything is loaded or written: a task with probabilities,
    N >= 1, no run twice, and every member of the same task on the same data config and split seed."""
    from dltool.runs import is_run, read_config, run_name

    members = [Path(m) for m in members or ()]
    if not members and tta is None:
        return []
    what = " and ".join(o for o, given in (("--ensemble", members), ("--tta", tta is not None)) if given)
    if task not in TASKS:
        raise UserError(f"{what} average class probabilities: task=classify or multilabel; run {run_name(run_dir)} "
                        f"learned task={task}")
    if tta is not None and (isinstance(tta, bool) or not isinstance(tta, int) or tta < 1):
        raise UserError(f"--tta takes a whole number of views >= 1 (1 = the plain input), got {tta!r}")
    seen = {Path(run_dir).resolve(): run_name(run_dir)}
    base = read_config(run_dir) or {}
    for member in members:
        if not is_run(member):
            raise UserError(f"ensemble member {member} is not a run folder (a run folder holds config.yaml)")
        if member.resolve() in seen:
            raise UserError(f"run {run_name(member)} is in the ensemble twice: name each member once (the evaluated "
                            f"run is the first)")
        seen[member.resolve()] = run_name(member)
        cfg = read_config(member) or {}
        other = (cfg.get("task") or {}).get("name", "classify")
        if other != task:
            raise UserError(f"ensemble member {run_name(member)} learned task={other}, run {run_name(run_dir)} "
                            f"task={task}: members must do the same task")
        differ = data_differences(base, cfg)
        if differ:
            raise UserError(f"ensemble member {run_name(member)} was trained on other data than run "
                            f"{run_name(run_dir)}: {choices(differ)} differ; members need the same data and split "
                            f"seed (train them with data.split.seed=S)")
    return members


def data_differences(a: dict, b: dict) -> list[str]:
    """The config keys (``data.split.test``, ``split seed``) in which two runs' data differ, a key a run lacks
    (saved before it existed) at its default (dltool.run_list.with_defaults); TRAINING_ONLY keys are not compared."""
    from dltool.run_list import flatten, with_defaults

    def data(cfg):
        flat = with_defaults(flatten(cfg))
        return {k: v for k, v in flat.items() if k.startswith("data.") and k != "data.split.seed"
                and k.split(".")[1] not in TRAINING_ONLY}

    def split_seed(cfg):  # as dltool.data.load_data splits
        seed = ((cfg.get("data") or {}).get("split") or {}).get("seed")
        return cfg.get("seed") if seed is None else seed

    da, db = data(a), data(b)
    out = [k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
    if split_seed(a) != split_seed(b):
        out.append(f"split seed ({split_seed(a)} and {split_seed(b)})")
    return out


def same_examples(setup, member_setup, split: str) -> bool:
    """Whether two restored runs hold the same inputs and labels, in the same order, in ``split``, and classes."""
    import torch

    from dltool.data.disk import same_inputs

    a, b = setup.splits[split], member_setup.splits[split]
    return ([str(c) for c in setup.data.classes] == [str(c) for c in member_setup.data.classes]
            and a["y"].shape == b["y"].shape and torch.equal(a["y"].cpu(), b["y"].cpu())
            and same_inputs(a["x"], b["x"]))


def shift_for(setup) -> tuple[int, str]:
    """The largest view shift and where it comes from: the run's ``data.augment.shift``, else ``default_shift``."""
    trained = int(((setup.cfg.data.get("augment") or {}).get("shift")) or 0)
    if trained:
        return trained, "data.augment.shift"
    return default_shift(setup.data.input_shape), "default (a twentieth of the shifted axis)"


def competition(run_dir, setup, x, y_true, split: str, members, tta, metric: str, options: dict,
                single: dict, overrides=()) -> dict:
    """The ``tta`` and ``ensemble`` parts of eval-<split>.json (those asked for): each figure beside the single
    view's and single model's, computed here in one pass, and latencies. ``single``: the run's own latency, as
    evaluate measured it. Every member is restored and checked before anything is written."""
    from dltool.augment import shift_dims
    from dltool.restore import latency, restore
    from dltool.runs import run_name

    task = (setup.cfg.task or {}).get("name", "classify")
    classes = [str(c) for c in setup.data.classes]
    views = 1 if tta is None else tta
    shift, source = shift_for(setup)
    axes = len(shift_dims(x))
    if views > max_views(shift, axes):
        raise UserError(f"--tta {views}: shifts of up to {shift} steps ({source}) give {max_views(shift, axes)} "
                        f"distinct views of this data; choose --tta 1 to {max_views(shift, axes)}")
    offsets = view_offsets(views, shift, axes)
    runs = [(Path(run_dir), setup)]
    for member in members:
        member_setup, _ = restore(member, overrides)
        if not same_examples(setup, member_setup, split):
            raise UserError(f"ensemble member {run_name(member)} holds other {split} examples than run "
                            f"{run_name(run_dir)} (other data or split): members must share the data")
        runs.append((member, member_setup))
    probs = [view_probabilities(s, task, x if s is setup else s.splits[split]["x"], offsets) for _, s in runs]

    def value(p):
        return score(task, y_true, p, classes, metric, options)

    def timed(s):  # as evaluate times the run alone: the net's forward pass without views; with views, all of them
        net = s.module if tta is None else _Views(s.module, task, offsets)
        return latency(net, x if s is setup else s.splits[split]["x"], autocast=s.fabric.autocast)

    def cost(speeds):  # summed over members; the multiples of the run alone, at batch size 1 and batched
        keys = ("latency_ms_per_example", "latency_ms_per_example_batched")
        total = {k: sum(s[k] for s in speeds) for k in keys}
        return {**total, "latency_multiplier": total[keys[0]] / single[keys[0]],
                "latency_multiplier_batched": total[keys[1]] / single[keys[1]]}

    out = {}
    if tta is not None:
        speed = timed(setup)
        out["tta"] = {"views": views, "shift": shift, "shift_from": source, "offsets": [list(o) for o in offsets],
                      "value": value(average(probs[0])), "single_view_value": value(probs[0][0]),
                      "forward_passes": views, **cost([speed])}
    if members:
        member_values = [value(p[0]) for p in probs]
        pick = min if metric in LOWER_IS_BETTER else max
        best = member_values.index(pick(member_values))
        speeds = [single if tta is None else speed] + [timed(s) for _, s in runs[1:]]
        out["ensemble"] = {"members": [run_name(r) for r, _ in runs], "member_values": member_values,
                           "best_member": run_name(runs[best][0]), "best_member_value": member_values[best],
                           "value": value(average([average(p) for p in probs])), "views": views,
                           **({} if tta is None else {"single_view_value": value(average([p[0] for p in probs]))}),
                           "member_latency_ms": [s["latency_ms_per_example"] for s in speeds], **cost(speeds)}
    return out
