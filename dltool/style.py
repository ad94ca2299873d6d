"""``dltool style``: neural style transfer (course 4, week 4; Gatys, Ecker & Bethge 2015, arXiv 1508.06576).

The generated image G is the only thing optimized: it starts as the content image C plus a little uniform noise
(the course's initialization, with less noise: see NOISE; ``--init noise``: noise only) and follows the gradient of
``J(G) = alpha J_content(C, G) + beta J_style(S, G)`` (dltool.style_costs) through a frozen feature net
(dltool.style_nets). The optimizer is Adam on the pixels, as in the course's notebook, each step followed by a clamp
to [0, 1]: a projected step that stays in the valid range. L-BFGS (Gatys et al.'s choice) needs fewer iterations on
VGG, but each runs a line search of several forward and backward passes and its curvature pairs assume no clamp;
given as many passes on the random net it ended at a higher J. Adam costs one pass a step, so ``--steps`` is also
the time budget, and it does not care about the scale of J (a run's net and the random net differ by orders).

Images: scikit-learn's two sample photographs (``china`` as content, ``flower`` as style, by default) or the user's
PNG or JPEG, read with Pillow as RGB (gray and palette images become 3 channels, alpha is dropped), centre-cropped
to a square and resized to ``--size`` x ``--size``: C, S and G share one shape, so their Gram matrices compare.
Everything is seeded (the noise, the random net): same seed, same image on the same machine. Files are written
atomically once the optimization is done, the JSON last: an interrupted or failed run leaves nothing.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from dltool.errors import UserError, check_number, choices, first_line
from dltool.runs import NAME, is_run, is_study, write_atomic, write_json
from dltool.style_costs import ALPHA, BETA, content_cost, style_cost, total_cost

STEPS, LR, SIZE, SEED = 300, 0.02, 128, 0
# One torch thread: a step at --size 128 is ~20 ms of small convolutions, which a second thread barely speeds up on
# an idle machine and slows 30-fold on a busy one (its threads wait for each other at every operation).
THREADS = 1
MAX_SIZE = 2048  # a step takes seconds at 2048; a typo such as --size 20000 would ask for tens of GB
INITS = ("content", "noise")
SAMPLES = ("china", "flower")  # sklearn.datasets.load_sample_images: china.jpg and flower.jpg
# G starts as C + uniform noise in [-0.05, 0.05], clipped to [0, 1]. The course adds [-0.25, 0.25]; with random
# features and a few hundred steps that much stays visible: the content layer does not see pixel noise, and Adam
# moves every pixel by about lr a step whatever its gradient.
NOISE = 0.05
FOLDER = Path("style")  # default outputs: style/<name or time>/ under the current folder


def check_settings(alpha, beta, steps, lr, size, init, seed, threads=THREADS) -> None:
    """The numbers and choices of one transfer; a UserError naming the first one out of range."""
    for value, option in ((alpha, "--alpha"), (beta, "--beta"), (lr, "--lr")):
        if isinstance(value, float) and math.isinf(value):
            raise UserError(f"{option} must be a finite number, got {value}")
    check_number(alpha, "--alpha", low=0)
    check_number(beta, "--beta", low=0)
    if alpha == 0 and beta == 0:
        raise UserError("--alpha and --beta are both 0: J(G) would be 0 for every image; give either a weight > 0")
    check_number(steps, "--steps", low=1, integer=True)
    check_number(lr, "--lr", low=0, low_open=True)
    check_number(size, "--size", low=1, high=MAX_SIZE, integer=True)
    check_number(seed, "--seed", low=0, integer=True)
    check_number(threads, "--threads", low=1, integer=True)
    if init not in INITS:
        raise UserError(f"unknown --init {init!r}; choose from: {choices(INITS)}")


def read_image(source: str | None, default: str, size: int, option: str):
    """The image ``source`` (a PNG or JPEG path, or a sample's name) as floats (size, size, 3) in [0, 1]."""
    import numpy as np
    from PIL import Image

    source = default if source is None else source
    try:
        if source in SAMPLES and not Path(source).exists():
            from sklearn.datasets import load_sample_image

            image = Image.fromarray(load_sample_image(f"{source}.jpg"))
        else:
            path = Path(source)
            if not path.exists():
                raise UserError(f"{option} {source}: no such file (give a PNG or JPEG, or a sample image: "
                                f"{choices(SAMPLES)})")
            if path.is_dir():
                raise UserError(f"{option} {source} is a folder: give a PNG or JPEG file")
            with Image.open(path) as opened:
                opened.load()
                image = opened.convert("RGB")  # gray, palette, CMYK -> RGB; an alpha channel is dropped
    except UserError:
        raise
    except Image.UnidentifiedImageError:
        raise UserError(f"{option} {source} is not an image Pillow can read: give a PNG or JPEG file") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:  # truncated, unreadable, absurdly large
        raise UserError(f"cannot read {option} {source}: {first_line(e)}") from None
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255


def output_paths(output: Path | None, name: str | None) -> dict:
    """Where the files go; checked before any work. --output FILE.png: the image, with FILE-loss.png,
    FILE-side_by_side.png and FILE.json beside it; else style/<name or time>/ holding result.png, loss.png,
    side_by_side.png and style.json. ``folder`` is created (with its parents) only when the files are written."""
    if output is not None and name is not None:
        raise UserError("give --output FILE or --name NAME, not both (--name names a folder under style/)")
    if output is None:
        if FOLDER.exists() and not FOLDER.is_dir():
            raise UserError(f"{FOLDER} is a file, not a folder: move it, or give --output FILE.png")
        if name is not None and (not NAME.fullmatch(name) or name in (".", "..")):
            raise UserError(f"bad --name {name!r}: use 1-128 letters, digits, '-', '_' or '.' (a plain folder name)")
        base = name if name is not None else time.strftime("%Y%m%d-%H%M%S")
        folder, i = FOLDER / base, 2
        if name is not None and folder.exists():
            raise UserError(f"{folder} already exists; choose another --name")
        while folder.exists():  # two unnamed transfers in the same second
            folder, i = FOLDER / f"{base}-{i}", i + 1
        return {"folder": folder, "image": folder / "result.png", "loss_curve": folder / "loss.png",
                "side_by_side": folder / "side_by_side.png", "json": folder / "style.json"}
    path = Path(output)
    if str(output).endswith(("/", "\\")) or path.is_dir():
        raise UserError(f"--output {output} is a folder: give the .png file to write (the loss curve, side-by-side "
                        "picture and JSON go beside it)")
    if path.suffix.lower() != ".png":
        raise UserError(f"--output {output}: the image is written as PNG; give a file name ending in .png")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"--output {output} is a link or not a regular file: give the path of a regular file")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot write --output {output}: {parent} is not a folder")
            break
    for folder in path.resolve().parents:
        if is_run(folder) or is_study(folder):
            kind = "run" if is_run(folder) else "study"
            raise UserError(f"--output {output} is inside the {kind} folder {folder}, where it could replace the "
                            f"{kind}'s own files: write it elsewhere")
    stem = path.with_suffix("")
    return {"folder": path.parent, "image": path, "loss_curve": Path(f"{stem}-loss.png"),
            "side_by_side": Path(f"{stem}-side_by_side.png"), "json": Path(f"{stem}.json")}


def optimize(net, content, style, weights: dict, content_layer: str, alpha=ALPHA, beta=BETA, steps=STEPS, lr=LR,
             init="content", seed=SEED, on_step=None):
    """Adam on the pixels of G from ``content`` (+ seeded noise) or from noise, clamped to [0, 1] after each step.

    ``content``, ``style``: (H, W, 3) floats in [0, 1]. Returns G (H, W, 3) as numpy and the history: one row a step
    ``{"step", "total", "content", "style"}`` (J, J_content, J_style before that step's update), the last row the
    final image's. ``on_step(step)`` is called after each update.
    """
    import torch

    g = torch.Generator().manual_seed(seed)

    def tensor(a):  # (H, W, 3) -> (1, 3, H, W)
        return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous().float()

    c, s = tensor(content), tensor(style)
    needed = list(dict.fromkeys([content_layer, *weights]))
    with torch.no_grad():
        a_c = net(c, [content_layer])[content_layer]
        a_s = net(s, list(weights))
    if init == "content":
        start = (c + (torch.rand(c.shape, generator=g) * 2 - 1) * NOISE).clamp(0, 1)
    else:
        start = torch.rand(c.shape, generator=g)
    image = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=lr)

    def costs():
        a_g = net(image, needed)
        j_content, j_style = content_cost(a_c, a_g[content_layer]), style_cost(a_s, a_g, weights)
        return total_cost(j_content, j_style, alpha, beta), j_content, j_style

    def row(step, j, j_content, j_style):
        return {"step": step, "total": j.item(), "content": j_content.item(), "style": j_style.item()}

    history = []
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        j, j_content, j_style = costs()
        j.backward()
        history.append(row(step, j, j_content, j_style))
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        if on_step is not None:
            on_step(step + 1)
    with torch.no_grad():
        history.append(row(steps, *costs()))
    return image.detach()[0].permute(1, 2, 0).numpy().copy(), history


def style_transfer(content=None, style=None, features=None, runs_dir="runs", alpha=ALPHA, beta=BETA, steps=STEPS,
                   lr=LR, size=SIZE, layers=None, content_layer=None, init="content", seed=SEED, output=None,
                   name=None, threads=THREADS, progress=False) -> dict:
    """Check everything, read the images, build the feature net, optimize G, write the files; return style.json's
    contents. Every mistake is a UserError before any file is written."""
    import torch

    from dltool.style_nets import check_layer, check_size, feature_net, parse_layers
    from dltool.train import keep_threads

    started = time.perf_counter()
    check_settings(alpha, beta, steps, lr, size, init, seed, threads)
    paths = output_paths(output, name)
    c_image = read_image(content, "china", size, "--content")
    s_image = read_image(style, "flower", size, "--style")
    with keep_threads():
        net = feature_net(features, Path(runs_dir), seed)
        weights = parse_layers(layers, net)
        content_layer = check_layer(content_layer, net, "--content-layer") if content_layer else net.default_content()
        check_size(net, size, list(dict.fromkeys([content_layer, *weights])))
        torch.set_num_threads(threads)
        with _progress(progress, steps) as on_step:
            t0 = time.perf_counter()
            image, history = optimize(net, c_image, s_image, weights, content_layer, alpha, beta, steps, lr, init,
                                      seed, on_step)
            optimizing = time.perf_counter() - t0
    result = {
        "image": str(paths["image"]), "loss_curve": str(paths["loss_curve"]),
        "side_by_side": str(paths["side_by_side"]), "json": str(paths["json"]),
        "content": content or "china", "style": style or "flower",
        "settings": {"alpha": alpha, "beta": beta, "steps": steps, "lr": lr, "size": size, "init": init, "seed": seed,
                     "optimizer": "adam", "style_layers": weights, "content_layer": content_layer,
                     "threads": threads},
        "features": {**net.info, "layers": net.names},
        "start": {k: history[0][k] for k in ("total", "content", "style")},
        "final": {k: history[-1][k] for k in ("total", "content", "style")},
        "seconds": None, "seconds_per_step": optimizing / steps, "history": history,
    }
    _write(paths, c_image, s_image, image, result, started)
    return result


def _write(paths: dict, c_image, s_image, image, result: dict, started: float) -> None:
    """The image, the loss curve, the side-by-side picture, then the JSON: each atomically."""
    import numpy as np
    from PIL import Image

    from dltool.errors import WriteError
    from dltool.style_report import loss_curve, side_by_side

    try:
        paths["folder"].mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(f"cannot create folder {paths['folder']}: {e.strerror or e}") from e
    pixels = Image.fromarray(np.round(image * 255).astype(np.uint8))
    write_atomic(paths["image"], lambda tmp: pixels.save(tmp, format="PNG"))
    loss_curve(paths["loss_curve"], result)
    side_by_side(paths["side_by_side"], c_image, s_image, image, result)
    result["seconds"] = time.perf_counter() - started
    write_json(paths["json"], result)


class _progress:
    """A rich progress bar on stderr while optimizing, when asked and stderr is a terminal; else nothing."""

    def __init__(self, show: bool, steps: int):
        import sys

        self.show, self.steps, self.bar = show and sys.stderr.isatty(), steps, None

    def __enter__(self):
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("optimizing G", total=self.steps)
        return lambda step: self.bar.update(task, completed=step)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
