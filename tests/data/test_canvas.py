from __future__ import annotations

import numpy as np
import pytest

from dltool.config import compose
from dltool.data import load_data
from dltool.data.canvas import generate
from dltool.errors import UserError


def small(**kw):
    args = {"n": 50, "size": 32, "digits": (1, 3), "scale": (1.5, 2.5), "noise": 0.1, "threshold": 0.3, "seed": 0,
            "overlap": 0.1}
    return generate(**{**args, **kw})


def test_images_masks_and_boxes_agree():
    a = small(noise=0.0)
    assert a["x"].shape == (50, 1, 32, 32) and a["y"].shape == (50, 32, 32) and a["boxes"].shape == (50, 3, 5)
    assert a["x"].dtype == np.float32 and a["y"].dtype == np.int64
    ink = a["y"] > 0
    # a digit's pixel is one whose intensity reaches the threshold, and no background pixel does (without noise;
    # to float32's precision)
    assert (a["x"][:, 0][ink] >= 0.3 - 1e-6).all() and (a["x"][:, 0][~ink] < 0.3 + 1e-6).all()
    for image, mask, boxes in zip(a["x"], a["y"], a["boxes"]):
        placed = boxes[boxes[:, 0] >= 0]
        assert 1 <= len(placed) <= 3
        for digit, x0, y0, x1, y1 in placed.astype(int):
            # the box holds pixels of its digit (the class 1 + digit), unless a later digit covers them all
            inside = mask[y0:y1 + 1, x0:x1 + 1]
            assert inside.size and (inside > 0).any()
        assert set(np.unique(mask)) <= {0, *(1 + placed[:, 0].astype(int))}


def test_the_same_seed_gives_the_same_canvas():
    a, b, c = small(seed=3), small(seed=3), small(seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a) and not np.array_equal(a["x"], c["x"])


def test_the_data_set_splits_images_masks_and_boxes_alike_without_stratifying():
    data = load_data(compose(["data=canvas", "data.n=200"]).data, seed=0)
    assert data.info == {"classes": ["background", *map(str, range(10))]}
    sizes = {k: len(v["x"]) for k, v in data.splits.items()}
    assert sizes == {"train": 120, "train_dev": 20, "dev": 30, "test": 30}
    for split in data.splits.values():
        assert len(split["y"]) == len(split["boxes"]) == len(split["x"])
    whole = generate(200, 32, (1, 3), (1.5, 2.5), 0.1, 0.3, 0, 0.1, 0)
    first = data.splits["dev"]["x"][0]
    [i] = [i for i in range(200) if np.array_equal(whole["x"][i], first)]  # the example, whole
    assert np.array_equal(whole["y"][i], data.splits["dev"]["y"][0])  # with its own mask
    assert np.array_equal(whole["boxes"][i], data.splits["dev"]["boxes"][0])  # and its own boxes


@pytest.mark.parametrize("override,message", [
    ("data.digits=[3,1]", r"data.digits must be a pair \[min, max\] with min <= max, got \[3, 1\]"),
    ("data.digits=2", r"data.digits must be a pair \[min, max\], got 2"),
    ("data.scale=[1,5]", r"data.scale up to 5 makes digits of 40 pixels: more than the canvas \(data.size=32\)"),
    ("data.threshold=0", r"data.threshold must be a number in \(0, 1\]"),
    ("data.n=5", r"data.n must be an integer in \[20, inf\)"),
])
def test_bad_canvas_settings_are_one_line(override, message):
    with pytest.raises(UserError, match=message):
        load_data(compose(["data=canvas", override]).data, seed=0)


def test_turned_digits_are_new_variants_of_the_same_glyphs():
    straight, turned = small(seed=5, noise=0.0), small(seed=5, noise=0.0, rotate=30)
    assert not np.array_equal(straight["y"], turned["y"])
    assert (turned["y"] > 0).any(axis=(1, 2)).all()  # every image still holds a digit
