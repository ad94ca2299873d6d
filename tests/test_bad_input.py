"""Every command against bad input, as one table: README's "Mistakes" promise, checked end to end.

Each row is a mistake a user can make: an unknown group, key or value, a wrong type, an out-of-range number, a
malformed CSV table, a damaged or unreadable checkpoint, a runs folder that is a file or cannot be written. Each
must give exactly one line on stderr (``dltool: error: ...`` naming the problem, and the valid choices where there
are choices), exit code 2, no traceback, nothing on stdout, and leave the working folder as it was: no new run or
study folder, no metrics.json that says ``completed``, no best.yaml or trials.csv, no checkpoint touched.

The rows run through the real CLI (typer's CliRunner); a few marked ``proc`` run as ``python -m dltool`` in a
subprocess, where stray warnings or logging on the real stderr would show. One tiny trained run is shared (copied
into each row that needs it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltool.cli import app
from tests.conftest import PERMISSIONS

ROOT = Path(__file__).resolve().parents[1]


MODELS = "choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, ctc_rnn, glove, gru, gru_paper, inception, lenet, lstm, mlp, mobilenet, mobilenet_v1, resnet"
CHEAP = ["data=digits", "trainer.max_epochs=1"]
CHEAP_TUNE = ["search=lr", *CHEAP, "--trials", "1"]
CSV = {
    "ragged": "a,b,label\n1,2,x\n3,y\n",
    "non-numeric": "a,b,label\n1,2,x\n3,oops,y\n",
    "no-target": "a,b,kind\n1,2,x\n3,4,y\n",
    "empty-target": "a,b,label\n1,2,x\n3,4,\n",
    "one-class": "a,b,label\n1,2,x\n3,4,x\n5,6,x\n",
    "empty": "",
    "header-only": "a,b,label\n",
    "no-features": "label\nx\ny\n",
    "overflow": "a,b,label\n1,2,x\n3,1e308,y\n",
    "duplicate-column": "f0,f1,label,f3,label\n1,2,x,3,y\n4,5,y,6,x\n",
    "empty-label-column": "f,a,b\n1,,1\n2,,0\n3,,1\n",
    "bad-label-value": "f,a,b\n1,0,1\n2,yes,0\n",
    "conll-not-bio": "Teddy B-PER\nParis LOC\n",  # a CoNLL file for data=entities whose second tag is not BIO
    "sentences-no-words": "text,label\ngreat fun,good\n42 !,bad\n",  # data=polarity: a sentence of no word
    # error-analysis sheets for dltool errors --tally
    "sheet-no-tags": "index,true,predicted,confidence,note\n1,3,5,0.9,\n",
    "sheet-not-a-sheet": "a,b,label\n1,2,x\n",
    "sheet-far-index": "index,true,predicted,confidence,dog,note\n99999,3,5,0.9,x,\n",
    # not a table: a YAML alias bomb for --config (nine levels of nine references)
    "alias-bomb": "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)),
}


def case(id, args, message, *, needs=(), csv=None, proc=False, slow=False):
    """One row: ``args`` after ``dltool``; ``message`` a fragment of the one stderr line ({runs}, {csv} filled in).

    ``needs``: ``run`` (a copy of the tiny run as runs/r), ``interrupted`` (that run says so: --resume accepts it),
    ``running`` (its process.json names this live process and it has no metrics.json yet),
    ``best.ckpt=K`` / ``last.ckpt=K`` with K one of truncated, garbage, empty, unreadable, legacy (a crafted pickle in
    torch's legacy format), ``runs-file`` (--runs-dir
    is a regular file), ``read-only-runs`` / ``read-only-run`` (chmod 0o500 on runs/ or runs/r). ``csv`` names a table
    of CSV written to ``{csv}``. ``--runs-dir {runs}`` is added for every command but models.

    ``slow``: a near-duplicate of a row that stays in the default run (the same check, another value or command), run
    with ``-m slow`` only. ``proc="slow"``: the row runs in this process by default and again as ``python -m dltool``
    (id ``ID-proc``) with ``-m slow``: a subprocess that imports torch and Lightning anew costs seconds a row.
    """
    marks = []
    if any(n.startswith("read-only") or n.endswith("=unreadable") for n in needs):
        marks.append(pytest.mark.skipif(not PERMISSIONS, reason="root reads and writes regardless of permissions"))
    if slow:
        marks.append(pytest.mark.slow)
    if proc == "slow":
        return [pytest.param(list(args), message, set(needs), csv, False, id=id, marks=marks),
                pytest.param(list(args), message, set(needs), csv, True, id=f"{id}-proc", marks=[*marks, pytest.mark.slow])]
    return [pytest.param(list(args), message, set(needs), csv, proc, id=id, marks=marks)]


CASES = [
    # train: config groups, keys and values
    case("train-unknown-model", ["train", "model=nope"], f"unknown model 'nope'; {MODELS}", proc=True),
    case("train-unknown-optimizer", ["train", "optimizer=adamw"],
         "unknown optimizer 'adamw'; choose from: adam, momentum, rmsprop, sgd"),
    case("train-unknown-key", ["train", "model.nokey=3"],
         "unknown key 'model.nokey'; valid keys of model: name, hidden, activation, init, keep_prob, batch_norm"),
    case("train-unknown-top-level-key", ["train", "colour=red"],
         "unknown key or group 'colour'; groups: task, model, data, optimizer, scheduler, trainer"),
    case("train-data-batch-size-is-no-key", ["train", "data.batch_size=0"],
         "unknown key 'data.batch_size'; valid keys of data: name, loader, human_error"),
    case("train-unparsable-override", ["train", "model.hidden=[1,"], "cannot parse override"),
    case("train-max-epochs-not-a-number", ["train", "trainer.max_epochs=abc"],
         "trainer.max_epochs must be an integer in [1, inf), got 'abc'"),
    case("train-max-epochs-not-an-integer", ["train", *CHEAP, "trainer.max_epochs=1.5"],
         "trainer.max_epochs must be an integer in [1, inf), got 1.5", slow=True),
    case("train-hidden-not-numbers", ["train", *CHEAP, "model.hidden=[a]"],
         "model.hidden (each layer) must be an integer in [1, inf), got 'a'"),
    case("train-hidden-negative", ["train", *CHEAP, "model.hidden=[-3]"],
         "model.hidden (each layer) must be an integer in [1, inf), got -3", slow=True),
    case("train-negative-lr", ["train", *CHEAP, "optimizer.lr=-0.01"],
         "optimizer.lr must be a number in (0, inf), got -0.01"),
    case("train-lr-not-a-number", ["train", *CHEAP, "optimizer.lr=abc"],
         "optimizer.lr must be a number in (0, inf), got 'abc'", slow=True),
    case("train-negative-weight-decay", ["train", *CHEAP, "optimizer.weight_decay=-1"],
         "optimizer.weight_decay must be a number in [0, inf), got -1", slow=True),
    case("train-negative-decay-rate", ["train", *CHEAP, "scheduler=inverse_time", "scheduler.decay=-1"],
         "scheduler.decay must be a number in [0, inf), got -1"),
    case("train-momentum-beta-above-1", ["train", *CHEAP, "optimizer=momentum", "optimizer.beta=1.5"],
         "optimizer.beta must be a number in [0, 1), got 1.5"),
    case("train-keep-prob-0", ["train", *CHEAP, "model.keep_prob=0"],
         "model.keep_prob must be a number in (0, 1], got 0", proc="slow"),
    case("train-keep-prob-1.5", ["train", *CHEAP, "model.keep_prob=1.5"],
         "model.keep_prob must be a number in (0, 1], got 1.5", slow=True),
    case("train-keep-prob-per-layer-count", ["train", *CHEAP, "model.keep_prob=[0.5]"],
         "model.keep_prob has 1 values for 2 hidden layers"),
    # model.hidden=[] is the MLP's softmax regression (README, experiment=paper_logistic): an empty list is a
    # mistake where a network needs layers
    case("train-empty-layer-list", ["train", *CHEAP, "model=cnn", "model.channels=[]"],
         "model.channels must be a non-empty list of channel counts"),
    case("train-zero-recurrent-layers", ["train", *CHEAP, "model=gru", "model.layers=0"],
         "model.layers must be an integer in [1, inf), got 0"),
    case("train-zero-batch-size", ["train", *CHEAP, "trainer.batch_size=0"],
         "trainer.batch_size must be an integer in [1, inf), got 0"),
    case("train-unknown-activation", ["train", *CHEAP, "model.activation=gelu"],
         "unknown activation 'gelu'; choose from: relu, leaky_relu, tanh, sigmoid"),
    case("train-unknown-accelerator", ["train", *CHEAP, "trainer.accelerator=tpu"],
         "unknown trainer.accelerator 'tpu'; choose from: auto, cpu, gpu"),
    case("train-unknown-fused", ["train", *CHEAP, "trainer.fused=maybe"],
         "unknown trainer.fused 'maybe'; choose from: auto, true, false", slow=True),
    case("train-fused-rmsprop", ["train", *CHEAP, "optimizer=rmsprop", "trainer.fused=true"],
         "optimizer rmsprop has no fused step; fused ones: sgd, momentum, adam"),
    case("train-channels-last-on-an-mlp", ["train", *CHEAP, "trainer.channels_last=true"],
         "trainer.channels_last needs 2-D convolutions on images"),
    case("train-synthetic-shape-empty", ["train", "data=synthetic", "data.shape=[]"],
         "data.shape must list 1 to 3 sizes, e.g. [40] or [3,32,32], got []"),
    case("train-synthetic-one-class", ["train", "data=synthetic", "data.classes=1"],
         "data.classes must be an integer in [2, inf), got 1", slow=True),
    case("train-split-above-1", ["train", *CHEAP, "data.split.dev=1.5"], "data.split.dev must be a number in [0, 1)"),
    case("train-negative-seed", ["train", *CHEAP, "--seed", "-1"], "seed must be an integer in [0, inf), got -1"),
    case("train-missing-csv-values", ["train", "data=csv"], "missing required value: data.path, data.target"),
    case("train-added-key-nothing-reads", ["train", *CHEAP, "+trainer.gpus=2", "+trainer.auto_select_gpus=true"],
         "unknown key 'trainer.gpus': nothing reads it; valid keys of trainer: max_epochs"),
    case("train-added-group-nothing-reads", ["train", *CHEAP, "+logger=tensorboard"],
         "unknown key 'logger': nothing reads it; groups: task, model, data, optimizer, scheduler, trainer"),
    case("train-removed-scheduler", ["train", *CHEAP, "~scheduler"],
         "scheduler cannot be removed: every run reads it; set a value instead; choose one with scheduler=NAME: cosine"),
    case("train-removed-optimizer", ["train", *CHEAP, "~optimizer"], "optimizer cannot be removed", slow=True),
    # ({{ and }} are { and } here: the arguments pass through str.format)
    case("train-unresolvable-env", ["train", *CHEAP, "data.name=${{oc.env:DLTOOL_NO_SUCH_VARIABLE}}"],
         "cannot resolve data.name=${{oc.env:DLTOOL_NO_SUCH_VARIABLE}}", proc=True),
    case("train-unresolvable-key", ["train", *CHEAP, "data.name=${{nope.key}}"],
         "cannot resolve data.name=${{nope.key}}: Interpolation key 'nope.key' not found", slow=True),
    case("train-config-alias-bomb", ["train", "--config", "{csv}"], "uses a YAML alias (*a0): write the values out",
         csv="alias-bomb", proc=True),
    case("train-seed-twice", ["train", *CHEAP, "--seed", "1", "seed=2"],
         "the seed is given twice (--seed 1 and a seed= override): give it once"),
    # usage: options and commands click itself rejects, as one line too
    case("train-seed-not-an-integer", ["train", "--seed", "abc"], "Invalid value for '--seed'", proc=True),
    case("train-unknown-option", ["train", "--bogus"], "No such option: --bogus (see dltool train -h)"),
    case("unknown-command", ["trian"], "No such command 'trian'. Did you mean 'train'?", proc=True),
    # train: the user's CSV table
    case("train-csv-missing-file", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "data file not found: {csv}"),
    case("train-csv-ragged-rows", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} line 3 has 2 fields, the header has 3", csv="ragged", proc="slow"),
    case("train-csv-non-numeric-feature", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} line 3, column 'b': 'oops' is not a number", csv="non-numeric"),
    case("train-csv-missing-target-column", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "target column 'label' is not in {csv}; columns: a, b, kind", csv="no-target"),
    case("train-csv-empty-target-value", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} line 3: the target column 'label' is empty", csv="empty-target"),
    case("train-csv-one-class", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "the data has only one class: classification needs at least two", csv="one-class"),
    case("train-csv-empty-file", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} has no data rows", csv="empty"),
    case("train-csv-header-only", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} has no data rows", csv="header-only", slow=True),
    case("train-csv-no-feature-columns", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} has no feature columns besides 'label'", csv="no-features"),
    case("train-csv-duplicate-column", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} has duplicate column names: label", csv="duplicate-column"),
    case("train-csv-label-column-all-empty", ["train", "task=multilabel", "data=csv", "data.path={csv}",
                                              "data.target=[a,b]"],
         "label column 'a' of {csv} is empty in every row: nothing to learn for it", csv="empty-label-column"),
    case("train-csv-label-not-0-or-1", ["train", "task=multilabel", "data=csv", "data.path={csv}",
                                         "data.target=[a,b]"],
         "{csv} line 3, label column 'a': 'yes' is not 0, 1 or empty (unknown)", csv="bad-label-value"),
    case("train-csv-float32-overflow", ["train", "data=csv", "data.path={csv}", "data.target=label"],
         "too large for float32", csv="overflow", proc="slow"),  # the real stderr: tests/data/test_csv.py too
    # train: names, configs and the runs folder
    case("train-bad-run-name", ["train", *CHEAP, "--name", "../escape"], "bad run name '../escape'"),
    case("train-missing-config-file", ["train", "--config", "no-such.yaml"], "config file not found: no-such.yaml"),
    case("train-runs-dir-is-a-file", ["train", *CHEAP], "runs folder {runs} is a file, not a folder",
         needs={"runs-file"}),
    case("train-runs-dir-not-writable", ["train", *CHEAP], "cannot create run folder {runs}/",
         needs={"run", "read-only-runs"}),
    # train --resume: the run and its last checkpoint
    case("resume-unknown-run", ["train", "--resume", "nope"], "run 'nope' not found in {runs}; runs: r",
         needs={"run"}),
    case("resume-a-completed-run", ["train", "--resume", "r"], "run r is completed: nothing to resume",
         needs={"run"}),
    case("resume-with-overrides", ["train", "--resume", "r", "optimizer.lr=0.1"],
         "--resume continues a run as it was, or longer: it takes only trainer.max_epochs=N and trainer.patience=N",
         needs={"run", "interrupted"}),
    case("resume-no-longer-than-it-was", ["train", "--resume", "r", "trainer.max_epochs=2"],
         "run r is completed: nothing to resume (trainer.max_epochs above 3 trains it longer", needs={"run"}),
    case("resume-longer-under-an-existing-name", ["train", "--resume", "r", "trainer.max_epochs=5", "--name", "r"],
         "run 'r' already exists in {runs}; choose another --name", needs={"run"}),
    case("resume-truncated-last-ckpt", ["train", "--resume", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/last.ckpt: it is not a safe weights-only checkpoint or is damaged",
         needs={"run", "interrupted", "last.ckpt=truncated"}),
    case("resume-garbage-last-ckpt", ["train", "--resume", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/last.ckpt: it is not a safe weights-only checkpoint or is damaged",
         needs={"run", "interrupted", "last.ckpt=garbage"}, slow=True),
    case("resume-unreadable-last-ckpt", ["train", "--resume", "r"],
         "cannot read checkpoint {runs}/r/checkpoints/last.ckpt: Permission denied",
         needs={"run", "interrupted", "last.ckpt=unreadable"}),
    case("resume-run-folder-not-writable", ["train", "--resume", "r"], "cannot write {runs}/r/",
         needs={"run", "interrupted", "read-only-run"}),
    case("resume-a-running-run", ["train", "--resume", "r"], "run r is still running (process ",
         needs={"run", "running"}),
    # tune: mistakes it checks before the study exists
    case("tune-unknown-model", ["tune", *CHEAP_TUNE, "model=nope"], f"unknown model 'nope'; {MODELS}", slow=True),
    case("tune-unknown-key", ["tune", *CHEAP_TUNE, "optimizer.lrr=0.1"],
         "unknown key 'optimizer.lrr'; valid keys of optimizer: name, lr, beta1, beta2, eps, weight_decay"),
    case("tune-unknown-search-space", ["tune", *CHEAP_TUNE, "search=nope"],
         "unknown search space 'nope'; choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, compound, ctc_rnn, glove, gru"),
    case("tune-unknown-sampler", ["tune", *CHEAP_TUNE, "--sampler", "bayes"],
         "unknown --sampler 'bayes'; choose from: random, tpe, grid"),
    case("tune-zero-trials", ["tune", *CHEAP_TUNE, "--trials", "0"], "--trials must be at least 1, got 0"),
    case("tune-bad-constraint", ["tune", *CHEAP_TUNE, "--constraint", "f1>=0.9"],
         "constraints are satisficing metrics: latency_ms, parameters"),
    # tune: mistakes in values every trial shares, and in the runs folder, before the study exists
    case("tune-max-epochs-not-a-number", ["tune", *CHEAP_TUNE, "trainer.max_epochs=abc"],
         "trainer.max_epochs must be an integer in [1, inf), got 'abc'", slow=True),
    case("tune-keep-prob-0", ["tune", *CHEAP_TUNE, "model.keep_prob=0"],
         "model.keep_prob must be a number in (0, 1], got 0"),
    case("tune-csv-ragged-rows", ["tune", "search=lr", "data=csv", "data.path={csv}", "data.target=label",
                                  "trainer.max_epochs=1", "--trials", "1"],
         "{csv} line 3 has 2 fields, the header has 3", csv="ragged"),
    case("tune-runs-dir-is-a-file", ["tune", *CHEAP_TUNE], "runs folder {runs} is a file, not a folder",
         needs={"runs-file"}),
    case("tune-runs-dir-not-writable", ["tune", *CHEAP_TUNE], "{runs}", needs={"read-only-runs"}),
    case("tune-override-of-a-searched-key", ["tune", *CHEAP_TUNE, "optimizer.lr=-1"],
         "optimizer.lr is both set by an override and searched by search space 'lr'"),
    # tasks: a task, a model and data that do not fit
    case("train-unknown-task", ["train", *CHEAP, "task=segmentt"], "unknown task 'segmentt'; choose from: classify, "
                                                                   "ctc, detect, embed, lm, multilabel, segment"),
    case("train-segment-with-a-classifier", ["train", "task=segment", "model=cnn", "data=canvas"],
         "model cnn does not serve task=segment; models that do: unet"),
    case("train-segment-without-masks", ["train", *CHEAP, "task=segment", "model=unet"],
         "task segment needs a mask a pixel"),
    case("train-classify-a-canvas", ["train", "data=canvas", "data.n=40", "model=cnn", "trainer.max_epochs=1"],
         "task classify needs one label an example"),
    case("train-init-from-no-run", ["train", *CHEAP, "model.init_from=no-such-run"],
         "model.init_from=no-such-run: no run folder there"),
    case("train-init-from-another-model", ["train", *CHEAP, "model=cnn", "model.init_from={runs}/r"],
         "model.init_from={runs}/r: that run trained model mlp, not cnn", needs={"run"}),
    case("train-freeze-too-many-blocks", ["train", *CHEAP, "model.freeze=9"],
         "model.freeze=9: the net's features have only 2 blocks with weights"),
    # task=verify and data.unseen
    case("train-unseen-unknown-class", ["train", *CHEAP, "task=verify", "data.unseen=[8,11]"],
         "unknown class '11' in data.unseen; classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"),
    case("train-unseen-with-classify", ["train", *CHEAP, "data.unseen=[9]"],
         "data.unseen holds classes out of training, for task=verify (one-shot recognition); task=classify must"),
    case("train-verify-negative-margin", ["train", *CHEAP, "task=verify", "task.margin=-0.1"],
         "task.margin must be a number in [0, inf), got -0.1"),
    case("train-verify-unknown-mining", ["train", *CHEAP, "task=verify", "task.mining=easy"],
         "unknown task.mining 'easy'; choose from: semi_hard, hard, random"),
    case("train-verify-with-a-segmenter", ["train", *CHEAP, "task=verify", "model=unet"],
         "model unet does not serve task=verify; models that do: alexnet, cnn, cnn_paper"),
    # task=detect, model=yolo, data.target=boxes
    case("train-detect-with-a-classifier", ["train", "task=detect", "model=cnn", "data=canvas"],
         "model cnn does not serve task=detect; models that do: yolo"),
    case("train-detect-without-boxes", ["train", "task=detect", "model=yolo", "data=canvas", "data.n=40"],
         "task detect needs images with boxes (rows of class, x0, y0, x1, y1), e.g. data=canvas data.target=boxes"),
    case("train-detect-zero-anchors", ["train", "experiment=detect_canvas", "data.n=40", "task.anchors=0"],
         "task.anchors must be an integer in [1, inf), got 0"),
    case("train-detect-nms-above-1", ["train", "experiment=detect_canvas", "data.n=40", "task.nms=1.5"],
         "task.nms must be a number in (0, 1], got 1.5", slow=True),
    case("train-yolo-unknown-backbone", ["train", "experiment=detect_canvas", "data.n=40", "model.backbone=unet"],
         "unknown model.backbone 'unet'; choose from: cnn, lenet, resnet, mobilenet, mobilenet_v1, inception"),
    case("train-yolo-resnet-with-cnn-arguments", ["train", "experiment=detect_canvas", "data.n=40",
                                                 "model.backbone=resnet"],
         "model resnet has no parameter kernel_sizes; valid: channels, blocks, width, depth, keep_prob, init "
         "(model.backbone_args holds cnn's by default: give resnet's own, or model.backbone_args=null for its defaults)"),
    case("train-detect-on-vectors", ["train", "task=detect", "model=yolo", "data=mnist1d"],
         "task detect needs images with boxes (rows of class, x0, y0, x1, y1), e.g. data=canvas data.target=boxes; "
         "this data has inputs (40,) and labels ()"),
    case("evaluate-detect-decoding-on-a-classifier", ["evaluate", "r", "task.nms=0.3"],
         "unknown key 'task.nms'", needs={"run"}),
    # task=seq2seq, data=dates, model=attention_rnn and dltool translate
    case("train-seq2seq-with-a-classifier", ["train", "task=seq2seq", "data=dates"],
         "model mlp does not serve task=seq2seq; models that do: attention_rnn"),
    case("train-seq2seq-on-vectors", ["train", "task=seq2seq", "model=attention_rnn", "data=mnist1d"],
         "task seq2seq needs pairs of token sequences with a target vocabulary, e.g. data=dates"),
    case("train-seq2seq-zero-beam", ["train", "experiment=translate_dates", "data.n=40", "task.beam=0"],
         "task.beam must be an integer in [1, inf), got 0"),
    case("train-dates-unknown-locale", ["train", "experiment=translate_dates", "data.locales=[en_US,xx_YY]"],
         "unknown data.locales xx_YY; Babel has e.g. en_US"),
    case("train-dates-end-before-start", ["train", "experiment=translate_dates", "data.end=1900-01-01"],
         "data.end (1900-01-01) is before data.start (1950-01-01)"),
    case("translate-a-classify-run", ["translate", "r", "3rd of March 2002"],
         "run r learned task=classify: dltool translate needs a translator (task=seq2seq)", needs={"run"}),
    case("translate-zero-beam", ["translate", "r", "3rd of March 2002", "--beam", "0"],
         "--beam must be an integer in [1, inf), got 0", needs={"run"}),
    case("translate-negative-alpha", ["translate", "r", "3rd of March 2002", "--alpha", "-1"],
         "--alpha must be a number in [0, inf), got -1.0", needs={"run"}, slow=True),
    case("translate-empty-text", ["translate", "r", "  "], "give a text to translate", needs={"run"}),
    case("translate-unknown-run", ["translate", "nope", "23.01.18"], "run 'nope' not found in {runs}; runs: r",
         needs={"run"}, slow=True),
    # task=ctc, data=digit_strings, model=ctc_rnn
    case("train-ctc-with-a-classifier", ["train", "task=ctc", "data=digit_strings"],
         "model mlp does not serve task=ctc; models that do: ctc_rnn"),
    case("train-ctc-on-one-label-an-example", ["train", "task=ctc", "model=ctc_rnn", "data=mnist1d"],
         "task ctc needs signals labelled with strings (padded, with a blank), e.g. data=digit_strings"),
    case("train-digit-strings-min-above-max", ["train", "task=ctc", "model=ctc_rnn", "data=digit_strings",
                                               "data.digits=[4,2]"],
         "data.digits must be [min, max] with min <= max, got [4, 2]"),
    case("train-trigger-with-a-classifier", ["train", "task=trigger", "data=digit_strings", "data.target=trigger"],
         "model mlp does not serve task=trigger; models that do: ctc_rnn"),
    case("train-trigger-on-strings", ["train", "task=trigger", "model=ctc_rnn", "data=digit_strings", "data.n=40"],
         "task trigger needs signals with a 0/1 label a frame, e.g. data=digit_strings data.target=trigger"),
    case("train-digit-strings-unknown-target", ["train", "task=trigger", "model=ctc_rnn", "data=digit_strings",
                                                "data.target=boxes"],
         "unknown data.target 'boxes'; choose from: strings, trigger"),
    # task=lm, data=names and dltool sample
    case("train-lm-with-a-classifier", ["train", "task=lm", "data=names"],
         "model mlp does not serve task=lm; models that do: rnn_lm, transformer_lm"),
    case("train-lm-on-vectors", ["train", "task=lm", "model=rnn_lm", "data=mnist1d"],
         "task lm needs token sequences (ids with start, end and pad tokens), e.g. data=names"),
    case("train-names-unknown-locale", ["train", "task=lm", "model=rnn_lm", "data=names", "data.locales=[en_US,xx_YY]"],
         "unknown data.locales xx_YY; Faker has e.g. en_US"),
    case("train-names-missing-file", ["train", "task=lm", "model=rnn_lm", "data=names", "data.path=nope.txt"],
         "data file not found: nope.txt", slow=True),
    case("train-names-unknown-kind", ["train", "task=lm", "model=rnn_lm", "data=names", "data.kind=middle"],
         "unknown data.kind 'middle'; choose from: first, last"),
    case("train-lm-unknown-cell", ["train", "task=lm", "model=rnn_lm", "data=names", "data.n=40", "model.cell=tcn"],
         "unknown model.cell 'tcn'; choose from: rnn, gru, lstm"),
    case("sample-zero-temperature", ["sample", "r", "--temperature", "0"],
         "--temperature must be a number in (0, inf), got 0.0", needs={"run"}),
    case("sample-zero-names", ["sample", "r", "--n", "0"], "--n must be an integer in [1, inf), got 0",
         needs={"run"}, slow=True),
    case("sample-zero-length", ["sample", "r", "--max-length", "0"],
         "--max-length must be an integer in [1, inf), got 0", needs={"run"}, slow=True),
    case("sample-a-classify-run", ["sample", "r"],
         "run r learned task=classify: dltool sample draws from a language model (task=lm)", needs={"run"}),
    case("sample-unknown-run", ["sample", "nope"], "run 'nope' not found in {runs}; runs: r", needs={"run"}, slow=True),
    # gradcheck
    case("gradcheck-zero-batch", ["gradcheck", *CHEAP, "--batch", "0"], "--batch must be an integer in [1, inf), got 0"),
    case("gradcheck-unknown-model", ["gradcheck", "model=nope"], f"unknown model 'nope'; {MODELS}", slow=True),
    # models
    case("models-model-override", ["models", "model=cnn"], "give data overrides only (e.g. data=digits)"),
    case("models-unknown-data", ["models", "data=nope"],
         "unknown data 'nope'; choose from: canvas, csv, dates, digit_strings, digits, entities, mnist1d, mnist1d_shift"),
    case("models-unknown-key", ["models", "data.nokey=1"], "unknown key 'data.nokey'; valid keys of data: name"),
    case("models-bad-bool", ["models", "data=digits", "data.normalize=maybe"],
         "data.normalize must be true or false, got 'maybe'"),
    case("models-csv-non-numeric-feature", ["models", "data=csv", "data.path={csv}", "data.target=label"],
         "{csv} line 3, column 'b': 'oops' is not a number", csv="non-numeric"),
    # diagnose
    case("diagnose-unknown-run", ["diagnose", "nope"], "run 'nope' not found in {runs}; runs: r", needs={"run"}),
    case("diagnose-no-runs", ["diagnose", "nope"], "run 'nope' not found in {runs}; there are no runs there"),
    case("diagnose-runs-dir-is-a-file", ["diagnose", "r"], "runs folder {runs} is a file, not a folder",
         needs={"runs-file"}, slow=True),
    case("diagnose-errors-not-a-number", ["diagnose", "--errors", "train=abc,dev=0.1"],
         "bad --errors value 'train=abc': 'abc' is not a number"),
    case("diagnose-error-out-of-range", ["diagnose", "--errors", "train=8,dev=10"], "must be a number in [0, 1]"),
    case("diagnose-run-folder-not-writable", ["diagnose", "r"],
         "cannot write {runs}/r/diagnosis.json: Permission denied", needs={"run", "read-only-run"}),
    # evaluate
    case("evaluate-unknown-run", ["evaluate", "nope"], "run 'nope' not found in {runs}; runs: r", needs={"run"}),
    case("evaluate-runs-dir-is-a-file", ["evaluate", "r"], "runs folder {runs} is a file, not a folder",
         needs={"runs-file"}, slow=True),
    case("evaluate-unknown-metric", ["evaluate", "r", "--metric", "auc"],
         "unknown --metric 'auc'; choose from: accuracy, error, precision, recall, f1, fbeta, weighted_error",
         needs={"run"}),
    case("evaluate-unknown-split", ["evaluate", "r", "--split", "val"],
         "unknown --split 'val'; choose from: train, train_dev, dev, test", needs={"run"}),
    case("evaluate-unknown-average", ["evaluate", "r", "--metric", "f1", "--average", "mean"],
         "unknown --average 'mean'; choose from: macro, micro, weighted, binary", needs={"run"}, slow=True),
    case("evaluate-negative-beta", ["evaluate", "r", "--metric", "fbeta", "--beta", "-1"],
         "--beta must be a number in (0, inf), got -1.0", needs={"run"}),
    case("evaluate-truncated-best-ckpt", ["evaluate", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/best.ckpt: it is not a safe weights-only checkpoint or is "
         "damaged", needs={"run", "best.ckpt=truncated"}, proc="slow"),
    case("evaluate-garbage-best-ckpt", ["evaluate", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/best.ckpt: it is not a safe weights-only checkpoint",
         needs={"run", "best.ckpt=garbage"}, slow=True),
    case("evaluate-empty-best-ckpt", ["evaluate", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/best.ckpt: it is not a safe weights-only checkpoint",
         needs={"run", "best.ckpt=empty"}, slow=True),
    case("evaluate-unreadable-best-ckpt", ["evaluate", "r"],
         "cannot read checkpoint {runs}/r/checkpoints/best.ckpt: Permission denied",
         needs={"run", "best.ckpt=unreadable"}),
    case("evaluate-run-folder-not-writable", ["evaluate", "r"], "cannot write {runs}/r/",
         needs={"run", "read-only-run"}),
    case("evaluate-legacy-pickle-best-ckpt", ["evaluate", "r"],
         "cannot load checkpoint {runs}/r/checkpoints/best.ckpt: it is not a safe weights-only checkpoint",
         needs={"run", "best.ckpt=legacy"}, proc=True),
    case("evaluate-resplits-the-data", ["evaluate", "r", "data.split.test=0.5"],
         "override 'data.split.test=0.5' would change what run is scored", needs={"run"}),
    # errors: course 3's error-analysis sheet, sampled and tallied
    case("errors-unknown-run", ["errors", "nope"], "run 'nope' not found in {runs}; there are no runs there"),
    case("errors-n-zero", ["errors", "r", "--n", "0"], "--n must be an integer in [1, inf), got 0", needs={"run"}),
    case("errors-unknown-split", ["errors", "r", "--split", "val"],
         "unknown --split 'val'; choose from: train, train_dev, dev, test", needs={"run"}, slow=True),
    case("errors-tag-twice", ["errors", "r", "--tags", "dog,blurry,dog"], "tag 'dog' is given twice",
         needs={"run"}),
    case("errors-empty-tag", ["errors", "r", "--tags", "dog,,blurry"], "has an empty tag name", needs={"run"}),
    case("errors-tag-is-a-column", ["errors", "r", "--tags", "dog,note"],
         "tag 'note' is a column every sheet has; tags may not be index, input, true, predicted, confidence, note",
         needs={"run"}, proc="slow"),
    case("errors-tally-missing-sheet", ["errors", "r", "--tally", "{runs}/missing.csv"],
         "no sheet at {runs}/missing.csv", needs={"run"}),
    case("errors-tally-no-tag-columns", ["errors", "r", "--tally", "{csv}"], "{csv} has no tag columns",
         needs={"run"}, csv="sheet-no-tags"),
    case("errors-tally-not-a-sheet", ["errors", "r", "--tally", "{csv}"],
         "{csv} is not an errors sheet: its columns must be index, true, predicted, confidence (with input after index for text), then the tags and note",
         needs={"run"}, csv="sheet-not-a-sheet"),
    case("errors-tally-sheet-of-another-split", ["errors", "r", "--tally", "{csv}"],
         "index 99999 is past the 270 examples of the dev split of run r", needs={"run"}, csv="sheet-far-index"),
    # export: outputs that would replace what makes a run, or that are not files
    case("export-over-the-best-checkpoint", ["export", "r", "--output", "{runs}/r/checkpoints/best.ckpt"],
         "--output {runs}/r/checkpoints/best.ckpt is inside the run folder {runs}/r", needs={"run"}),
    case("export-over-the-config", ["export", "r", "--output", "{runs}/r/config.yaml"], "is inside the run folder",
         needs={"run"}, slow=True),
    case("export-over-metrics", ["export", "r", "--output", "{runs}/r/metrics.json"], "is inside the run folder",
         needs={"run"}, slow=True),
    case("export-to-a-device", ["export", "r", "--output", "/dev/full"], "--output /dev/full is not a regular file",
         needs={"run"}),
    case("export-unknown-format", ["export", "r", "--format", "tflite"],
         "unknown --format 'tflite'; choose from: safetensors, pt, onnx", needs={"run"}),
    # runs
    case("runs-unknown-sort", ["runs", "--sort", "colour"],
         "unknown --sort 'colour'; choose from: name, model, data, status, train_error", needs={"run"}),
    case("runs-runs-dir-is-a-file", ["runs"], "runs folder {runs} is a file, not a folder", needs={"runs-file"}),
    # style: images, numbers, layers, the feature run, where the files go
    case("style-no-such-image", ["style", "--content", "{runs}/nope.png"],
         "--content {runs}/nope.png: no such file (give a PNG or JPEG, or a sample image: china, flower)"),
    case("style-not-an-image", ["style", "--style", "{csv}"], "--style {csv} is not an image Pillow can read",
         csv="ragged"),
    case("style-image-is-a-folder", ["style", "--content", "{runs}"], "--content {runs} is a folder", needs={"run"}),
    case("style-zero-steps", ["style", "--steps", "0"], "--steps must be an integer in [1, inf), got 0"),
    case("style-negative-alpha", ["style", "--alpha", "-1"], "--alpha must be a number in [0, inf), got -1.0"),
    case("style-negative-beta", ["style", "--beta", "-0.5"], "--beta must be a number in [0, inf), got -0.5", slow=True),
    case("style-no-weights", ["style", "--alpha", "0", "--beta", "0"], "--alpha and --beta are both 0"),
    case("style-zero-lr", ["style", "--lr", "0"], "--lr must be a number in (0, inf), got 0.0", slow=True),
    case("style-unknown-init", ["style", "--init", "zeros"], "unknown --init 'zeros'; choose from: content, noise"),
    case("style-size-too-small", ["style", "--size", "8"],
         "--size 8 is too small for the feature net's layers features.2, features.0, features.1, features.3, "
         "features.4: the image shrinks to nothing on the way; give --size 32 or more", proc="slow"),
    case("style-unknown-layer", ["style", "--layers", "conv1_1,features.1"],
         "unknown layer 'conv1_1' in --layers; layers of the random feature net: features.0, features.1, "
         "features.2, features.3, features.4"),
    case("style-unknown-content-layer", ["style", "--content-layer", "conv4_2"],
         "unknown layer 'conv4_2' in --content-layer; layers of the random feature net: features.0", slow=True),
    case("style-bad-layer-weight", ["style", "--layers", "features.0=heavy"], "bad --layers 'features.0=heavy'"),
    case("style-unknown-run", ["style", "--features", "nope"], "run 'nope' not found in {runs}", needs={"run"}, slow=True),
    case("style-run-without-conv2d", ["style", "--features", "r"],
         "run r's model mlp (inputs of shape (1, 8, 8)) has no 2-D convolutional layers to take features from",
         needs={"run"}, proc="slow"),
    case("style-output-inside-a-run", ["style", "--output", "{runs}/r/result.png"],
         "--output {runs}/r/result.png is inside the run folder {runs}/r", needs={"run"}),
    case("style-output-is-a-folder", ["style", "--output", "{runs}"], "--output {runs} is a folder", needs={"run"}),
    case("style-output-not-png", ["style", "--output", "out.jpg"], "give a file name ending in .png"),
    case("style-output-and-name", ["style", "--output", "out.png", "--name", "x"],
         "give --output FILE or --name NAME, not both"),
    case("style-bad-name", ["style", "--name", "../up"], "bad --name '../up': use 1-128 letters"),
    # debug runs and the user's config folder (dltool config's own rows: tests/test_cli_conventions.py)
    case("train-overfit-batches-0", ["train", *CHEAP, "trainer.overfit_batches=0"],
         "trainer.overfit_batches must be an integer in [1, inf), got 0"),
    case("train-overfit-batches-negative", ["train", *CHEAP, "trainer.overfit_batches=-2"],
         "trainer.overfit_batches must be an integer in [1, inf), got -2", slow=True),
    case("train-fast-dev-run-not-a-bool", ["train", *CHEAP, "trainer.fast_dev_run=maybe"],
         "trainer.fast_dev_run must be true or false, got 'maybe'"),
    case("train-two-debug-runs", ["train", *CHEAP, "trainer.fast_dev_run=true", "trainer.overfit_batches=1"],
         "trainer.fast_dev_run and trainer.overfit_batches are two debug runs: choose one"),
    case("train-unknown-logger", ["train", *CHEAP, "trainer.logger=wandb"],
         "unknown trainer.logger 'wandb'; choose from: none, csv, tensorboard, mlflow"),
    case("train-config-dir-missing", ["train", *CHEAP, "--config-dir", "no-such-folder"],
         "config folder not found: no-such-folder"),
    case("tune-config-dir-missing", ["tune", *CHEAP_TUNE, "--config-dir", "no-such-folder"],
         "config folder not found: no-such-folder", slow=True),
    case("curve-config-dir-missing", ["curve", *CHEAP, "--config-dir", "no-such-folder"],
         "config folder not found: no-such-folder"),
    case("train-multirun-of-a-group", ["train", "-m", *CHEAP, "optimizer=adam,sgd"],
         "optimizer=adam,sgd: a multirun sweeps config keys, not groups"),
    case("train-multirun-nothing-swept", ["train", "-m", *CHEAP], "-m/--multirun needs a swept override"),
    # task=tag, data=entities, model=brnn_tagger and dltool tag
    case("train-tag-with-a-classifier", ["train", "task=tag", "data=entities", "data.n=40"],
         "model mlp does not serve task=tag; models that do: brnn_tagger"),
    case("train-tag-on-classes", ["train", "task=tag", "model=brnn_tagger", "data=digits"],
         "task tag needs sentences with a tag a word, e.g. data=entities"),
    case("train-entities-missing-file", ["train", "task=tag", "model=brnn_tagger", "data=entities",
                                         "data.path=nope.conll"], "data file not found: nope.conll"),
    case("train-entities-not-bio", ["train", "task=tag", "model=brnn_tagger", "data=entities", "data.path={csv}"],
         "line 2: expected a word and a BIO tag (O, B-TYPE or I-TYPE), got 'Paris LOC'", csv="conll-not-bio"),
    case("train-tagger-bad-bidirectional", ["train", "task=tag", "model=brnn_tagger", "data=entities", "data.n=40",
                                            "model.bidirectional=maybe"],
         "model.bidirectional must be true or false, got 'maybe'"),
    case("tag-a-classify-run", ["tag", "r", "Teddy Roosevelt flew to Paris"],
         "run r learned task=classify: dltool tag needs a tagger (task=tag)", needs={"run"}),
    case("tag-empty-text", ["tag", "r", "  "], "give a sentence to tag", needs={"run"}),
    case("tag-unknown-run", ["tag", "nope", "Teddy"], "run 'nope' not found in {runs}; runs: r", needs={"run"}, slow=True),
    # sentence classification: data=polarity, model=word_average / word_lstm
    case("train-word-average-on-images", ["train", "data=digits", "model=word_average"],
         "model word_average takes sentences of word ids, shape (T,), e.g. data=polarity; got (1, 8, 8)"),
    case("train-polarity-on-an-mlp", ["train", "data=polarity", "model=mlp"],
         "the data holds word ids and this model reads numbers: use a model that embeds words (model=word_average"),
    case("train-polarity-no-text-column", ["train", "data=polarity", "model=word_average", "data.path={csv}",
                                           "data.text=review"],
         "has no column 'review' (data.text); its columns: a, b, label", csv="ragged"),
    case("train-polarity-empty-csv", ["train", "data=polarity", "model=word_average", "data.path={csv}"],
         "is empty: give a CSV with a header row, then a sentence and its label a row", csv="empty"),
    case("train-polarity-sentence-of-no-words", ["train", "data=polarity", "model=word_average", "data.path={csv}"],
         "sentence 2 of the data has no words (runs of 2 to 15 letters)", csv="sentences-no-words"),
    case("train-polarity-ragged", ["train", "data=polarity", "model=word_lstm", "data.path={csv}", "data.text=a",
                                   "data.target=label"], "line 3: 2 fields where the header has 3", csv="ragged"),
]


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "garbage":
        path.write_bytes(b"this is not a zip archive\n" * 20)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "unreadable":
        path.chmod(0o000)
    elif how == "legacy":  # torch's pre-zip format, holding an object whose unpickling would run code
        import torch

        torch.save({"state_dict": Payload()}, path, _use_new_zipfile_serialization=False)
    else:
        raise ValueError(how)


class Payload:
    def __reduce__(self):
        return (print, ("unsafe code ran",))


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its content and mode: any write, new file or folder shows."""
    out = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        if path.is_file() and os.access(path, os.R_OK):
            out[str(path.relative_to(root))] = f"{mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
        else:
            out[str(path.relative_to(root))] = f"{mode:o}"
    return out


def good_results(root: Path) -> list[str]:
    """What would pass for a result: a completed metrics.json, a study's best.yaml or trials.csv."""
    found = []
    for path in root.rglob("*"):
        if path.name in ("best.yaml", "trials.csv"):
            found.append(str(path))
        elif path.name == "metrics.json":
            try:
                if json.loads(path.read_text()).get("status") == "completed":
                    found.append(str(path))
            except (OSError, ValueError):
                pass
    return sorted(found)


def run_cli(args: list[str], cwd: Path, proc: bool) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, whether an exception escaped) of ``dltool ARGS`` run in ``cwd``."""
    if proc:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        env.pop("DLTOOL_DEBUG", None)
        done = subprocess.run([sys.executable, "-m", "dltool", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr, "Traceback" in done.stderr
    result = CliRunner().invoke(app, args)
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.exit_code, result.stdout, result.stderr, escaped


CASES = [row for rows in CASES for row in rows]


@pytest.mark.parametrize("args,message,needs,csv,proc", CASES)
def test_a_mistake_is_one_line_exit_2_and_leaves_nothing(args, message, needs, csv, proc, digits_run, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # a command that ignores --runs-dir would write into ./runs, here: still seen
    monkeypatch.delenv("DLTOOL_DEBUG", raising=False)
    runs, table = tmp_path / "runs", tmp_path / "table.csv"
    if "runs-file" in needs:
        runs.write_text("not a folder\n")
    if "run" in needs:
        shutil.copytree(digits_run, runs / "r")
    if "interrupted" in needs:
        metrics = runs / "r" / "metrics.json"
        metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "status": "interrupted"}))
    if "running" in needs:
        (runs / "r" / "metrics.json").unlink()
        process = runs / "r" / "process.json"
        process.write_text(json.dumps({**json.loads(process.read_text()), "pid": os.getpid()}))
    for need in needs:
        name, is_damage, how = need.partition("=")
        if is_damage:
            damage(runs / "r" / "checkpoints" / name, how)
    if csv is not None:
        table.write_text(CSV[csv])
    locked = [runs] if "read-only-runs" in needs else [runs / "r"] if "read-only-run" in needs else []
    for folder in locked:
        folder.mkdir(exist_ok=True)
        folder.chmod(0o500)

    fill = {"runs": str(runs), "csv": str(table)}
    argv = [a.format(**fill) for a in args]
    if argv[0] not in ("models", "gradcheck"):  # the commands that read no runs folder
        argv += ["--runs-dir", str(runs)]
    before, results_before = snapshot(tmp_path), good_results(tmp_path)
    try:
        code, stdout, stderr, escaped = run_cli(argv, tmp_path, proc)
        after, results_after = snapshot(tmp_path), good_results(tmp_path)
    finally:
        for folder in locked:
            folder.chmod(0o700)
        for path in (runs / "r" / "checkpoints").glob("*.ckpt"):
            path.chmod(0o600)

    assert not escaped and "Traceback" not in stdout + stderr, stderr
    assert code == 2, f"exit code {code}; stderr: {stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), f"stderr is not one line: {stderr!r}"
    assert lines[0].startswith("dltool: error: "), lines[0]
    assert message.format(**fill) in lines[0]
    assert stdout == ""
    assert results_after == results_before, "a mistake left something that looks like a result"
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"a mistake wrote into the working folder: {changed}"
