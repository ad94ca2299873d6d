from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from dltool.tasks.detect import (
    Detect,
    box_sizes,
    decode,
    mean_ap,
    split_outputs,
    targets,
)

CLASSES = ["a", "b", "c"]
OPT = {"name": "sgd", "lr": 0.1, "weight_decay": 0.0}
ANCHORS = torch.tensor([[4.0, 4.0], [12.0, 6.0]])  # pixels
TINY = ["experiment=detect_canvas", "data.n=160", "trainer.max_epochs=2", "trainer.batch_size=16",
        "model.backbone_args.channels=[8,8,8]", "model.hidden=8", "task.anchors=2"]
# two images of 16 x 16 pixels (a 2 x 2 grid of 8-pixel cells): rows class, x0, y0, x1, y1 (inclusive), -1 padding
BOXES = torch.tensor([[[0, 1, 1, 4, 4], [2, 8, 2, 11, 7], [-1, -1, -1, -1, -1]],
                      [[1, 9, 9, 14, 12], [-1, -1, -1, -1, -1], [-1, -1, -1, -1, -1]]])


def detector(**kwargs) -> Detect:
    info = {"classes": CLASSES, "anchors": ANCHORS.tolist()}
    return Detect(nn.Identity(), info, torch.zeros(1), torch.ones(1), OPT, {"name": "none"}, 1, anchors=2, **kwargs)


def perfect_outputs(boxes: torch.Tensor, grid: int, cell: float) -> torch.Tensor:
    """The (B, A (5 + K), S, S) outputs that say exactly ``boxes``: what a perfect net puts out."""
    t = targets(boxes, ANCHORS, grid, cell)
    b, a, k = len(boxes), len(ANCHORS), len(CLASSES)
    p = torch.zeros(b, grid, grid, a, 5 + k)
    p[..., 0] = torch.where(t["obj"], 30.0, -30.0)
    p[..., 1:3] = torch.logit(t["xy"].clamp(1e-6, 1 - 1e-6))
    p[..., 3:5] = t["wh"]
    p[..., 5:] = 30 * torch.nn.functional.one_hot(t["cls"], k) * t["obj"][..., None]
    return p.permute(0, 3, 4, 1, 2).reshape(b, a * (5 + k), grid, grid)


def test_targets_give_each_box_to_the_cell_of_its_centre_and_the_anchor_of_its_shape():
    t = targets(BOXES, ANCHORS, grid=2, cell=8.0)
    # box 1: pixels 1..4, centre (1 + 5) / 2 = 3 px = 0.375 cells in cell (0, 0); 4 x 4: anchor 0, log(4/4) = 0
    assert t["obj"][0, 0, 0, 0] and t["xy"][0, 0, 0, 0].tolist() == [0.375, 0.375]
    assert t["wh"][0, 0, 0, 0].tolist() == [0.0, 0.0] and t["cls"][0, 0, 0, 0] == 0
    # box 2: x 8..11 (4 wide), y 2..7 (6 high): centre (10, 5) px -> column 1 at 0.25, row 0 at 0.625;
    # shape 4 x 6 overlaps anchor 0 by 16 / 24, anchor 1 by 24 / 72: anchor 0
    assert t["obj"][0, 0, 1, 0] and t["xy"][0, 0, 1, 0].tolist() == [0.25, 0.625] and t["cls"][0, 0, 1, 0] == 2
    assert t["wh"][0, 0, 1, 0].tolist() == pytest.approx([0.0, np.log(6 / 4)])
    # box 3: 6 x 4 at centre (12, 11) -> cell (row 1, column 1); 6 x 4 overlaps anchor 1 (12 x 6) by 24 / 72 and
    # anchor 0 by 16 / 24: anchor 0 again; its centre is 0.5, 0.375 into the cell
    assert t["obj"][1, 1, 1, 0] and t["xy"][1, 1, 1, 0].tolist() == [0.5, 0.375]
    assert int(t["obj"].sum()) == 3  # one output an object, nothing for padding


def test_decoding_perfect_outputs_gives_the_boxes_back():
    rows = decode(perfect_outputs(BOXES, 2, 8.0), ANCHORS, 16, score_threshold=0.5, nms=0.5, max_boxes=4)
    # continuous corners: pixels 1..4 span 1 to 5; rows class, score, x0, y0, x1, y1
    expected = sorted([[0, 1.0, 1, 1, 5, 5], [2, 1.0, 8, 2, 12, 8]])
    assert sorted(r for r in rows[0].tolist() if r[0] >= 0) == [pytest.approx(e, abs=1e-4) for e in expected]
    assert rows[1, 0].tolist() == pytest.approx([1, 1.0, 9, 9, 15, 13], abs=1e-4)
    assert (rows[1, 1:] == -1).all()  # padding after the one box
    assert mean_ap(rows.numpy(), BOXES.numpy(), CLASSES)["map50"] == pytest.approx(1.0)


def test_mean_ap_of_a_hand_worked_ranking():
    """One class, two true boxes; detections: right (0.9), a false one (0.8), right (0.7). Precision 1 up to recall
    0.5, then 2/3 up to 1: COCO's 101-point AP = (51 x 1 + 50 x 2/3) / 101."""
    truth = np.array([[[0, 0, 0, 9, 9]], [[0, 20, 20, 29, 29]]])
    detections = np.array([[[0, 0.9, 0, 0, 10, 10], [0, 0.8, 40, 40, 50, 50]],
                           [[0, 0.7, 20, 20, 30, 30], [-1, -1, -1, -1, -1, -1]]])
    got = mean_ap(detections, truth, ["x", "y"])
    assert got["map50"] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert got["ap"] == {"x": pytest.approx((51 + 50 * 2 / 3) / 101), "y": None}  # y is in no image
    assert got["recall"] == pytest.approx(1.0)
    shifted = detections.copy()
    shifted[0, 0, 2:] += [4, 0, 4, 0]  # IoU 6 x 10 / (2 x 100 - 60) = 0.43: below 0.5, a miss
    assert mean_ap(shifted, truth, ["x", "y"])["map50"] < got["map50"]
    assert mean_ap(detections[:, :0], truth, ["x", "y"])["map50"] == 0.0  # no boxes at all


def test_mean_ap_equals_cocoeval_summarize_with_its_default_parameters():
    """mean_ap keeps one range of areas and 100 boxes an image (fast); COCOeval's own summarize() on its defaults
    (four ranges of areas, 1 / 10 / 100 boxes) must give the same AP@0.5, AP@[.5:.95] and AR@100."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(0)
    n, k = 30, 3
    truth = np.full((n, 2, 5), -1)
    truth[:, :, 0] = rng.integers(0, k, (n, 2))
    truth[:, :, 1:3] = rng.integers(0, 40, (n, 2, 2))
    truth[:, :, 3:5] = truth[:, :, 1:3] + rng.integers(5, 30, (n, 2, 2))
    truth[::4, 1] = -1  # some images hold one object
    detections = np.full((n, 6, 6), -1.0)
    for i in range(n):  # jittered true boxes (some of the wrong class) and random ones, with random scores
        for j in range(4):
            c, x0, y0, x1, y1 = truth[i, j % 2] if truth[i, j % 2, 0] >= 0 else truth[i, 0]
            jitter = rng.normal(0, 3, 4)
            detections[i, j] = [c if rng.random() < 0.8 else (c + 1) % k, rng.random(),
                                x0 + jitter[0], y0 + jitter[1], x1 + 1 + jitter[2], y1 + 1 + jitter[3]]
    got = mean_ap(detections, truth, list("abc"))
    gt = COCO()
    rows = [(i, *truth[i, j]) for i in range(n) for j in range(2) if truth[i, j, 0] >= 0]
    gt.dataset = {"images": [{"id": i} for i in range(n)], "categories": [{"id": c} for c in range(k)],
                  "annotations": [{"id": m + 1, "image_id": int(i), "category_id": int(c), "iscrowd": 0,
                                   "bbox": [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
                                   "area": float((x1 - x0 + 1) * (y1 - y0 + 1))}
                                  for m, (i, c, x0, y0, x1, y1) in enumerate(rows)]}
    d = [(i, *detections[i, j]) for i in range(n) for j in range(6) if detections[i, j, 0] >= 0]
    results = np.array([[i, x0, y0, x1 - x0, y1 - y0, s, c] for i, c, s, x0, y0, x1, y1 in d])
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        reference = COCOeval(gt, gt.loadRes(results), "bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    assert 0.2 < reference.stats[1] < 0.95  # a ranking with hits and misses: a test of something
    assert got["map50"] == pytest.approx(reference.stats[1])
    assert got["map"] == pytest.approx(reference.stats[0])
    assert got["recall"] == pytest.approx(reference.stats[8])


def test_the_loss_is_zero_at_perfect_outputs_and_counts_each_part():
    task = detector()
    batch = {"x": torch.zeros(2, 1, 16, 16), "y": BOXES}
    out = perfect_outputs(BOXES, 2, 8.0)
    assert task.loss(out, batch).item() == pytest.approx(0.0, abs=1e-5)
    wrong = split_outputs(out.clone(), 2)
    wrong[0, 0, 0, 0, 3] += 1.0  # t_w of box 1 off by 1: coord x 1^2 / 2 images
    assert task.loss(wrong.permute(0, 3, 4, 1, 2).reshape(out.shape), batch).item() == pytest.approx(5.0 / 2, abs=1e-4)
    nothing = torch.zeros_like(out)  # p_c = 1/2, classes even, boxes at the centres of the anchors
    p = split_outputs(nothing, 2)
    t = targets(BOXES, ANCHORS, 2, 8.0)
    coord = ((0.5 - t["xy"][t["obj"]]) ** 2).sum() + (t["wh"][t["obj"]] ** 2).sum()
    by_hand = 5.0 * coord + 3 * np.log(2) + 0.5 * (p[..., 0].numel() - 3) * np.log(2) + 3 * np.log(3)
    assert task.loss(nothing, batch).item() == pytest.approx(by_hand.item() / 2, rel=1e-5)


def test_nms_and_the_score_threshold_in_decoding():
    out = perfect_outputs(BOXES[1:], 2, 8.0)
    p = split_outputs(out, 2)
    p[0, 1, 1, 1] = p[0, 1, 1, 0]  # anchor 1 says the same box, a bit less sure
    p[0, 1, 1, 1, 0] = 1.0  # sigmoid(1) = 0.73
    p[0, 1, 1, 1, 3:5] = torch.log(torch.tensor([7 / 12, 4 / 6]))  # 7 x 4 against the true 6 x 4: IoU 6/7
    both = decode(out, ANCHORS, 16, 0.05, None, 5)[0]
    assert int((both[:, 0] >= 0).sum()) == 2  # without NMS: the duplicate stays
    kept = decode(out, ANCHORS, 16, 0.05, 0.5, 5)[0]
    assert int((kept[:, 0] >= 0).sum()) == 1 and kept[0, 1] == pytest.approx(1.0)
    assert int((decode(out, ANCHORS, 16, 0.8, None, 5)[0][:, 0] >= 0).sum()) == 1  # 0.73 under 0.8


def test_box_sizes_skip_padding():
    assert box_sizes(BOXES.numpy()).tolist() == [[4, 4], [4, 6], [6, 4]]


def test_a_tiny_detector_trains_evaluates_and_exports(tmp_path):
    from tests.conftest import invoke

    result = invoke("train", *TINY, "--runs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    dev = run["splits"]["dev"]
    assert {"map50", "map", "recall", "ap"} <= set(dev) and dev["error"] == pytest.approx(1 - dev["map50"])
    run_dir = tmp_path / run["run"]
    evaluated = invoke("evaluate", str(run_dir), "--split", "dev", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout)
    assert figures["map50"] == pytest.approx(dev["map50"])
    assert (run_dir / "boxes-dev.png").is_file() and (run_dir / "predictions-dev.csv").is_file()
    assert invoke("export", str(run_dir)).exit_code == 0
    assert invoke("diagnose", str(run_dir)).exit_code == 0
    # the anchors k-means chose on this run's training boxes travel in the checkpoint's info
    from dltool.boxes import kmeans_anchors
    from dltool.checkpoints import load
    from dltool.config import compose
    from dltool.data import load_data

    cfg = compose(TINY)
    train_boxes = load_data(cfg.data, cfg.seed).splits["train"]["y"]
    expected = kmeans_anchors(torch.from_numpy(box_sizes(train_boxes)), 2, cfg.seed)
    saved = load(run_dir / "checkpoints" / "best.ckpt")["info"]["anchors"]
    assert np.allclose(saved, expected.numpy()) and len(saved) == 2  # medians of whole pixels


def test_canvas_boxes_are_the_labels_with_target_boxes():
    from dltool.config import compose
    from dltool.data import load_data
    from dltool.data.canvas import generate

    data = load_data(compose(["data=canvas", "data.target=boxes", "data.n=40"]).data, 0)
    y = np.concatenate([data.splits[k]["y"] for k in data.splits])
    assert y.shape == (40, 3, 5) and y.dtype == np.int64 and data.classes == [str(d) for d in range(10)]
    boxes = generate(40, 32, (1, 3), (1.5, 2.5), 0.1, 0.3, 0, 0.1)["boxes"]
    assert sorted(map(tuple, y.reshape(-1, 5).tolist())) == sorted(map(tuple, boxes.reshape(-1, 5).astype(int).tolist()))


def test_yolo_takes_a_backbone_and_checks_its_grid():
    from dltool.errors import UserError
    from dltool.models import count_parameters, create_model

    net = create_model("yolo", (1, 32, 32), 2 * (5 + 3), backbone="cnn",
                       backbone_args={"channels": [4, 4, 4], "kernel_sizes": 3}, hidden=0)
    assert net.grid == 4 and net(torch.zeros(2, 1, 32, 32)).shape == (2, 16, 4, 4)
    # three 3x3 convs with batch norm (no bias): 9 (1x4 + 4x4 + 4x4) + 3 x 8 BN; the 1x1 head 4 x 16 + 16
    assert count_parameters(net) == 9 * (4 + 16 + 16) + 3 * 8 + 4 * 16 + 16
    assert create_model("yolo", (1, 32, 32), 8, backbone="resnet", backbone_args=None).grid == 8  # resnet: halves twice
    with pytest.raises(UserError, match="model yolo needs a square grid; backbone cnn maps"):
        create_model("yolo", (1, 32, 16), 8, backbone_args={"channels": [4, 4, 4]})
    with pytest.raises(UserError, match=r"model yolo needs images \(channels, height, width\)"):
        create_model("yolo", (40,), 8)


def test_the_yolo_loss_passes_gradient_checking():
    """Backprop through the loss against two-sided differences in float64 (torch.autograd.gradcheck), at outputs
    near a fit and at random ones: the targets are built in the outputs' dtype, never rounded to float32 (the whole
    net through dltool gradcheck: 4.4e-10 on a 3-level cnn backbone, "fine")."""
    task = detector().double()
    batch = {"x": torch.zeros(2, 1, 16, 16, dtype=torch.float64), "y": BOXES}
    near = perfect_outputs(BOXES, 2, 8.0).double() / 10  # p_c and classes unsure: no saturated sigmoid
    noise = torch.randn(near.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for out in (near, noise):
        assert torch.autograd.gradcheck(lambda o: task.loss(o, batch), (out.clone().requires_grad_(),), fast_mode=True)
