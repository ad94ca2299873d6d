from __future__ import annotations

import inspect

import pytest
import torch
from omegaconf import OmegaConf

from dltool.config import conf_dir, group_options
from dltool.errors import UserError
from dltool.models import _REGISTRY, _TASKS, TRANSFER_KEYS, create_model, model_names

SHAPES = [(40,), (1, 8, 8)]  # MNIST-1D sequences and digits images
CLASSIFIERS = [n for n in model_names() if "classify" in _TASKS[n]]
SEGMENTERS = [n for n in model_names() if "segment" in _TASKS[n]]
LANGUAGE = [n for n in model_names() if "lm" in _TASKS[n]]  # token ids (T,) in, a score a token a step out
DETECTORS = [n for n in model_names() if "detect" in _TASKS[n]]
IMAGES_ONLY = SEGMENTERS + DETECTORS  # nets of maps: they take (C, H, W) images only
SEQ2SEQ = [n for n in model_names() if "seq2seq" in _TASKS[n]]  # source ids (T,) in; alone, one decoder step out
TOKENS = LANGUAGE + SEQ2SEQ  # the models that read token ids
RECOGNIZERS = [n for n in model_names() if "ctc" in _TASKS[n]]  # signals (L,) in, a score a class a frame out
TAGGERS = [n for n in model_names() if "tag" in _TASKS[n]]  # (word, shape) ids (T, 2) in, a score a tag a word out
EMBEDDERS = [n for n in model_names() if "embed" in _TASKS[n]]  # word ids (T,) in, word vectors out; no head
SENTENCES = ["word_average", "word_lstm"]  # classifiers of sentences: word ids (T,) in, a score a class out


def inputs(name: str, shape: tuple[int, ...], n: int = 3) -> torch.Tensor:
    """A batch a net takes: token ids for a language model, numbers for the others."""
    return torch.randint(0, 4, (n, *shape)) if name in TOKENS + TAGGERS + SENTENCES else torch.randn(n, *shape)


def test_every_model_has_a_config_and_every_config_a_model():
    assert model_names() == group_options("model")


def test_every_model_serves_a_task():
    assert set(CLASSIFIERS) | set(IMAGES_ONLY) | set(TOKENS) | set(RECOGNIZERS) | set(TAGGERS) | set(EMBEDDERS) == \
        set(model_names())
    assert EMBEDDERS == ["glove", "skipgram"] and set(SENTENCES) <= set(CLASSIFIERS)
    assert SEGMENTERS == ["unet"] and DETECTORS == ["yolo"] and RECOGNIZERS == ["ctc_rnn"]
    assert LANGUAGE == ["rnn_lm", "transformer_lm"] and SEQ2SEQ == ["attention_rnn", "transformer_seq2seq"]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_classifier_maps_a_batch_to_logits_with_finite_gradients(name, shape):
    if name in SENTENCES and len(shape) != 1:
        pytest.skip("a sentence classifier takes word ids only")
    torch.manual_seed(0)
    net = create_model(name, shape, 10)
    x = inputs(name, shape, 8)
    logits = net(x)
    assert logits.shape == (8, 10)
    torch.nn.functional.cross_entropy(logits, torch.arange(8)).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", SEGMENTERS)
def test_every_segmenter_maps_images_to_a_score_a_class_a_pixel(name):
    torch.manual_seed(0)
    net = create_model(name, (1, 8, 8), 3)
    scores = net(torch.randn(2, 1, 8, 8))
    assert scores.shape == (2, 3, 8, 8)
    torch.nn.functional.cross_entropy(scores, torch.randint(0, 3, (2, 8, 8))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize("shape", SHAPES)
def test_every_tensor_has_one_state_dict_key(name, shape):
    """A module registered twice puts its tensors in every checkpoint and export twice, under two keys."""
    if name in IMAGES_ONLY and len(shape) != 3:
        pytest.skip("a segmenter or a detector takes images only")
    if name in TOKENS and len(shape) != 1:
        pytest.skip("a language model takes sequences of token ids only")
    if name in RECOGNIZERS and len(shape) != 1:
        pytest.skip("a CTC recognizer takes signals only")
    if name in TAGGERS and len(shape) != 1:
        pytest.skip("a tagger takes sentences of word and shape ids only")
    if name in EMBEDDERS + SENTENCES and len(shape) != 1:
        pytest.skip("word vectors and sentence classifiers take rows of word ids only")
    shape = (12, 2) if name in TAGGERS else shape
    state = create_model(name, shape, 10).state_dict()
    owners: dict[int, str] = {}
    for key, tensor in state.items():
        ptr = tensor.untyped_storage().data_ptr()
        assert ptr not in owners, f"{key} shares its storage with {owners[ptr]}"
        owners[ptr] = key


def test_unknown_model_and_unknown_argument_name_the_choices():
    with pytest.raises(UserError, match="unknown model 'resnet9'; choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, .*mlp, .*resnet"):
        create_model("resnet9", (40,), 10)
    with pytest.raises(UserError, match="model mlp has no parameter width; valid: hidden, activation"):
        create_model("mlp", (40,), 10, width=3)


@pytest.mark.parametrize("name", model_names())
def test_config_keys_are_the_knobs_and_defaults_agree(name):
    yaml = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / f"{name}.yaml"))
    assert yaml.pop("name") == name
    assert [yaml.pop(k) for k in TRANSFER_KEYS] == [None, "none"]  # every model's, read by dltool.transfer
    params = list(inspect.signature(_REGISTRY[name]).parameters.values())[2:]
    assert list(yaml) == [p.name for p in params]  # same keys, same order
    for p in params:  # so create_model(name, shape, n) builds what `model=<name>` builds
        default = list(p.default) if isinstance(p.default, tuple) else p.default
        assert yaml[p.name] == default, p.name


# the conv families take volumes (C, D, H, W) too (Conv3d, through dltool.models.layers); the sequence nets do not
VOLUMES = ["alexnet", "cnn", "cnn_paper", "inception", "lenet", "mobilenet", "mobilenet_v1", "resnet", "vgg"]


@pytest.mark.parametrize("name", [n for n in CLASSIFIERS if n not in ("mlp", *SENTENCES)])  # the MLP flattens any
# shape; the sentence classifiers' refusal is tests/test_sentiment.py's
def test_models_refuse_a_shape_they_cannot_take_in_one_line(name):
    if name in VOLUMES:
        shapes, shape, got = r"\(L,\), \(C, L\), \(C, H, W\) or \(C, D, H, W\)", (2, 3, 4, 8, 8), r"\(2, 3, 4, 8, 8\)"
    else:
        shapes, shape, got = r"\(L,\), \(C, L\) or \(C, H, W\)", (2, 3, 8, 8), r"\(2, 3, 8, 8\)"
    with pytest.raises(UserError, match=rf"^model {name} takes examples of shape {shapes}; got {got}$"):
        create_model(name, shape, 10)


@pytest.mark.parametrize("name", EMBEDDERS)
def test_word_vector_nets_give_a_vector_a_word(name):
    """Word vectors have no head to replace (they are the body): what they give is ``vectors()``, (V, d), and the
    vectors of given ids; transfer and new heads do not apply (``_nets`` leaves them out)."""
    torch.manual_seed(0)
    net = create_model(name, (12,), 10, dim=4)
    assert net.vectors().shape == (10, 4)
    ids = torch.randint(0, 10, (3, 12))
    torch.testing.assert_close(net(ids), net.vectors()[ids], rtol=0, atol=0)


def _nets():
    for name in model_names():
        if name in EMBEDDERS:
            continue
        for shape in ([(1, 8, 8)] if name in IMAGES_ONLY else [(12, 2)] if name in TAGGERS else [(12,)] if name in TOKENS else [(40,)] if name in RECOGNIZERS + SENTENCES else SHAPES):
            yield name, shape


@pytest.mark.parametrize("name,shape", list(_nets()))
def test_every_net_is_features_then_a_head(name, shape):
    """forward = head(forward_features): what transfer learning, verification and new heads stand on."""
    torch.manual_seed(0)
    net = create_model(name, shape, 4).eval()
    x = inputs(name, shape)
    features = net.forward_features(x)
    assert len(features) == 3 and features.ndim == (4 if name in IMAGES_ONLY else 3 if name in TOKENS + RECOGNIZERS + TAGGERS else 2)
    torch.testing.assert_close(net.head(features), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("name,shape", list(_nets()))
def test_reset_head_gives_new_outputs_and_keeps_the_body(name, shape):
    torch.manual_seed(0)
    net = create_model(name, shape, 4).eval()
    x = inputs(name, shape)
    features = net.forward_features(x)
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("head.")}
    head_before = {k: v.clone() for k, v in net.head.state_dict().items()}
    assert net.reset_head(7) is net
    out = net(x)
    assert out.shape[:2] == (3, 7) or name in LANGUAGE and out.shape == (3, 12, 7) or \
        name in SEQ2SEQ and out.shape == (3, 1, 7) or name in RECOGNIZERS and out.shape == (3, 5, 7) or \
        name in TAGGERS and out.shape == (3, 12, 7)
    torch.testing.assert_close(net.forward_features(x), features, rtol=0, atol=0)
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in body.items())
    head_after = net.head.state_dict()
    last = max(int(k.split(".")[0]) for k in head_before) if "0.weight" in head_before else None
    for k, v in head_before.items():  # hidden dense layers in the head keep their weights, the last layer is new
        if last is not None and not k.startswith(f"{last}."):
            assert torch.equal(head_after[k], v)
    bias = [k for k in head_after if k.endswith("bias") and (last is None or k.startswith(f"{last}."))]
    assert all(torch.count_nonzero(head_after[k]) == 0 for k in bias)  # Xavier weights, zero bias
