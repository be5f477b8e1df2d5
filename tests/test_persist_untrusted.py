"""A persist folder from someone else: it may not pick places on disk, code hooks or
model files outside itself, nor exhaust memory while being parsed. Every test here
failed on the code before this change (the folder loaded, or crashed with an unclear
error); docs/reliability.md, "Loading from an untrusted source", lists them."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_after_reload
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from bertfeat import BertVectorizer, persist

TEXTS = [f"note {i}: {'good' if i % 3 else 'bad'} {'film' if i % 2 else 'book'}" for i in range(30)]
LABELS = np.array(["pos", "neg", "mid"] * 10)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_bert):
    folder = tmp_path_factory.mktemp("untrusted-model") / "model"
    shutil.copytree(tiny_bert, folder)
    return folder


@pytest.fixture(scope="module")
def pipe(model_dir):
    return make_pipeline(BertVectorizer(model=str(model_dir), progress=False), LogisticRegression(max_iter=500)).fit(
        TEXTS, LABELS
    )


def edit_manifest(folder: Path, edit) -> None:
    path = folder / "bertfeat.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def vec_doc(manifest) -> dict:
    return manifest["root"]["steps"][0][1]["state"]


def fingerprint_of(folder: Path) -> str:
    from bertfeat._store import fingerprint

    return fingerprint(folder)


def retarget(saved: Path, old_fp: str) -> None:
    """After editing the embedded model, record its new fingerprint everywhere: what
    someone who controls the whole folder can do."""
    (embedded,) = (saved / "models").iterdir()
    new_fp = fingerprint_of(embedded)
    path = saved / "bertfeat.json"
    path.write_text(path.read_text().replace(old_fp, new_fp))


# -- places on disk and code hooks ---------------------------------------------------------
def test_cache_dir_is_never_taken_from_the_file(pipe, model_dir, tmp_path):
    mine = make_pipeline(
        BertVectorizer(model=str(model_dir), cache_dir=tmp_path / "my-cache", progress=False), LogisticRegression()
    ).fit(TEXTS, LABELS)
    persist.save(mine, tmp_path / "saved", include_model=True)
    assert vec_doc(json.loads((tmp_path / "saved" / "bertfeat.json").read_text()))["params"]["cache_dir"] is None
    assert persist.load(tmp_path / "saved")[0].cache_dir is None  # the loading machine decides
    chosen = persist.load(tmp_path / "saved", cache_dir=str(tmp_path / "chosen"))
    assert chosen[0].cache_dir == str(tmp_path / "chosen")
    chosen.predict(TEXTS[:3])
    assert (tmp_path / "chosen").is_dir()

    attacker = tmp_path / "attacker-chosen"
    edit_manifest(tmp_path / "saved", lambda m: vec_doc(m)["params"].update({"cache_dir": str(attacker)}))
    with pytest.raises(ValueError, match=r"refusing BertVectorizer\(cache_dir=.*never taken from a file.*cache_dir=\.\.\."):
        persist.load(tmp_path / "saved")
    assert not attacker.exists()


def test_pipeline_memory_is_never_taken_from_the_file(pipe, tmp_path):
    """joblib's Memory reads pickles from its folder at the next fit: a path back to code."""
    persist.save(pipe, tmp_path / "saved", include_model=True)
    assert persist.load(tmp_path / "saved").memory is None
    edit_manifest(tmp_path / "saved", lambda m: m["root"]["params"].update({"memory": str(tmp_path / "pickles")}))
    with pytest.raises(ValueError, match=r"refusing Pipeline\(memory=.*pickles'\) from the saved folder"):
        persist.load(tmp_path / "saved")
    edit_manifest(tmp_path / "saved", lambda m: m["root"]["params"].update({"memory": None}))
    assert persist.load(tmp_path / "saved", memory=str(tmp_path / "mine")).memory == str(tmp_path / "mine")


def test_load_takes_only_the_machines_settings(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    with pytest.raises(TypeError, match=r"not C"):
        persist.load(tmp_path / "saved", C=10.0)
    assert persist.load(tmp_path / "saved", device="cpu")[0].device == "cpu"


# -- model files: only from inside the folder, or from a folder the caller names -------------
def test_a_model_location_in_the_file_is_not_read_unless_the_caller_names_it(pipe, model_dir, tmp_path):
    persist.save(pipe, tmp_path / "saved")  # by reference: the folder names model_dir
    with pytest.raises(ValueError, match=r"refusing to read the model at '.*model', named by the saved folder"):
        persist.load(tmp_path / "saved")
    named = persist.load(tmp_path / "saved", model=str(model_dir))
    np.testing.assert_array_equal(named.predict_proba(TEXTS), pipe.predict_proba(TEXTS))
    assert named[0].model_path_ == str(model_dir.resolve())
    # The same files elsewhere (same fingerprint): before, the file could point there.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(model_dir, elsewhere)
    for target in (str(elsewhere), "some-user/some-hub-model"):
        edit_manifest(tmp_path / "saved", lambda m: vec_doc(m)["params"].update({"model": target}))
        with pytest.raises(ValueError, match=rf"refusing to read the model at '{target}'"):
            persist.load(tmp_path / "saved")


def test_links_leading_out_of_the_folder_are_refused(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    (embedded,) = (tmp_path / "saved" / "models").iterdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    # One model file replaced by a link to an identical file outside: same fingerprint.
    shutil.copy(embedded / "config.json", outside / "config.json")
    (embedded / "config.json").unlink()
    (embedded / "config.json").symlink_to(outside / "config.json")
    with pytest.raises(ValueError, match=r"model file 'config.json' is outside .* \(after following links\)"):
        persist.load(tmp_path / "saved")
    # The whole model folder a link to an identical folder outside.
    shutil.copytree(embedded, outside / "model", symlinks=False)
    shutil.rmtree(embedded)
    embedded.symlink_to(outside / "model")
    with pytest.raises(ValueError, match=r"model folder 'models/[0-9a-f]{32}' is outside"):
        persist.load(tmp_path / "saved")


def test_array_file_linking_outside_is_refused(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    arrays = tmp_path / "saved" / "arrays.safetensors"
    shutil.move(arrays, tmp_path / "arrays-outside.safetensors")
    arrays.symlink_to(tmp_path / "arrays-outside.safetensors")
    with pytest.raises(ValueError, match=r"array file 'arrays.safetensors' is outside"):
        persist.load(tmp_path / "saved")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: (d / "adapter_config.json").write_text('{"base_model_name_or_path": "/elsewhere"}'),
         r"holds 'adapter_config.json': a saved folder's model holds only config.json"),
        (lambda d: _update_json(d / "tokenizer_config.json", {"vocab_file": "/etc/hostname"}),
         r"tokenizer_config.json' names files to read \(vocab_file\)"),
        (lambda d: _update_json(d / "config.json", {"auto_map": {"AutoModel": "evil.Model"}}),
         r"config.json' sets 'auto_map' \(code to import\)"),
    ],
    ids=["extra-file", "tokenizer-file-path", "auto-map"],
)  # fmt: skip
def test_embedded_model_may_hold_only_model_files(pipe, tmp_path, edit, message):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    (embedded,) = (tmp_path / "saved" / "models").iterdir()
    edit(embedded)
    retarget(tmp_path / "saved", pipe[0].model_fingerprint_)
    with pytest.raises(ValueError, match=message):
        persist.load(tmp_path / "saved")


def _update_json(path: Path, extra: dict) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **extra}))


# -- sizes and shapes that would exhaust memory or crash the parser ---------------------------
def test_oversized_manifest_is_refused_before_parsing(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    path = tmp_path / "saved" / "bertfeat.json"
    path.write_text(path.read_text() + " " * (65 << 20))  # still valid JSON; the bound is 64 MiB
    with pytest.raises(ValueError, match=r"bertfeat.json' is \d+ bytes, more than the \d+ allowed"):
        persist.load(tmp_path / "saved")


def test_deeply_nested_manifest_is_a_clear_error(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    deep = "[" * 100_000 + "]" * 100_000
    edit_manifest(tmp_path / "saved", lambda m: None)
    path = tmp_path / "saved" / "bertfeat.json"
    path.write_text(path.read_text().replace('"root": {', f'"deep": {deep}, "root": {{', 1))
    with pytest.raises(ValueError, match=r"nested too deeply"):
        persist.load(tmp_path / "saved")


def _crafted_header(path: Path, length: int) -> None:
    data = bytearray(path.read_bytes())
    data[:8] = length.to_bytes(8, "little")
    path.write_bytes(bytes(data))


def test_safetensors_headers_are_size_bounded(pipe, tmp_path):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    arrays = tmp_path / "saved" / "arrays.safetensors"
    _crafted_header(arrays, 1 << 40)
    digest = hashlib.sha256(arrays.read_bytes()).hexdigest()
    edit_manifest(tmp_path / "saved", lambda m: m.update({"arrays_sha256": digest}))
    with pytest.raises(ValueError, match=r"declares a 1099511627776-byte header .*refusing to parse it"):
        persist.load(tmp_path / "saved")

    persist.save(pipe, tmp_path / "saved2", include_model=True)
    (embedded,) = (tmp_path / "saved2" / "models").iterdir()
    _crafted_header(embedded / "model.safetensors", 1 << 40)
    retarget(tmp_path / "saved2", pipe[0].model_fingerprint_)
    with pytest.raises(ValueError, match=r"model.safetensors' declares a 1099511627776-byte header"):
        persist.load(tmp_path / "saved2")


@pytest.mark.parametrize(
    "name",
    [["os", "system"], {"module": "os"}],
    ids=["list", "object"],
)
def test_type_names_that_are_not_strings_are_refused(pipe, tmp_path, name):
    persist.save(pipe, tmp_path / "saved", include_model=True)
    edit_manifest(tmp_path / "saved", lambda m: m["root"]["steps"][1][1].update({"__estimator__": name}))
    with pytest.raises(ValueError, match=r"which is not registered; refusing to load it"):
        persist.load(tmp_path / "saved")


# -- fine-tuned models: their Hugging Face folder lives inside ------------------------------------
FAST = dict(max_epochs=1, batch_size=8, random_state=0, verbose=0, device="cpu")


@pytest.fixture(scope="module")
def finetuned(tiny_bert):
    from bertfeat import FineTuneClassifier

    return FineTuneClassifier(str(tiny_bert), **FAST).fit(TEXTS, LABELS)


def test_fine_tuned_classifier_round_trips_and_refuses_code_hooks(finetuned, tmp_path):
    from bertfeat.finetune import Callback

    class Recorder(Callback):
        pass

    finetuned.set_params(callbacks=[Recorder()])
    try:
        persist.save(finetuned, tmp_path / "saved")  # callbacks are code: not saved
    finally:
        finetuned.set_params(callbacks=None)
    (embedded,) = (tmp_path / "saved" / "models").iterdir()
    back = persist.load(tmp_path / "saved")
    assert back.callbacks is None and back.model == str(embedded.resolve())
    assert_same_after_reload(back.predict_proba(TEXTS), finetuned.predict_proba(TEXTS))
    assert list(back.classes_) == list(finetuned.classes_) and back.history_ == finetuned.history_
    assert not [p for p in (tmp_path / "saved").rglob("*") if p.is_file() and p.read_bytes()[:1] == b"\x80"]
    edit_manifest(tmp_path / "saved", lambda m: m["root"]["state"]["params"].update({"callbacks": "evil"}))
    with pytest.raises(ValueError, match=r"refusing FineTuneClassifier\(callbacks='evil'\)"):
        persist.load(tmp_path / "saved")


def test_fine_tuned_regressor_round_trips(tiny_bert, tmp_path):
    import torch

    from bertfeat import FineTuneRegressor

    y = np.linspace(0.0, 1.0, len(TEXTS))
    reg = FineTuneRegressor(str(tiny_bert), **FAST).fit(TEXTS, y)
    persist.save(reg, tmp_path / "saved")
    back = persist.load(tmp_path / "saved", device="cpu")
    saved, loaded = reg._module.state_dict(), back._module.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[name], loaded[name]) for name in saved)  # the weights, bit for bit
    assert_same_after_reload(back.predict(TEXTS), reg.predict(TEXTS))
    assert back.predict(TEXTS).shape == (len(TEXTS),)  # fitted on 1-D y: the private _y_1d came back
    assert_same_after_reload(back.transform(TEXTS[:4]), reg.transform(TEXTS[:4]))


# -- the command line's model folders ------------------------------------------------------------
@pytest.fixture
def labelled(tmp_path) -> Path:
    pd = pytest.importorskip("pandas")
    path = tmp_path / "train.csv"
    pd.DataFrame({"review": TEXTS, "label": LABELS}).to_csv(path, index=False)
    return path


def _no_unpickling(monkeypatch):
    import joblib

    def refuse(*args, **kwargs):
        raise AssertionError("a command read a pickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (joblib, "load")):
        monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("head", ["logreg", "mlp", "finetune"])
def test_cli_model_folders_hold_no_pickle_and_load_without_one(tiny_bert, labelled, tmp_path, monkeypatch, head):
    from bertfeat.cli import main

    model = tmp_path / "model"
    extra = ["--epochs", "1"] if head == "finetune" else []
    assert main(["train", str(labelled), "--head", head, "-o", str(model), "--model", str(tiny_bert), *extra]) == 0
    files = [p for p in model.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in (".joblib", ".pkl", ".pickle", ".bin")]
    assert not [p for p in files if p.read_bytes()[:1] == b"\x80"]  # no pickle stream anywhere
    _no_unpickling(monkeypatch)
    assert main(["predict", str(model), str(labelled), "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").stat().st_size > 0


class _Marker:
    """Unpickling this creates a file: proof that a pickle ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_cli_refuses_an_old_pickle_folder_without_unpickling_it(labelled, tmp_path, capsys):
    import joblib

    from bertfeat.cli import main

    old = tmp_path / "old-model"
    old.mkdir()
    marker = tmp_path / "code-ran"
    joblib.dump(_Marker(str(marker)), old / "pipeline.joblib")
    (old / "bertfeat.json").write_text(json.dumps({"head": "logreg", "trained_on": "train.csv"}))
    assert main(["predict", str(old), str(labelled), "-o", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "a pickle written by an older bertfeat" in err and "bertfeat train train.csv --head logreg" in err
    assert not marker.exists()
