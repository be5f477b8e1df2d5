"""The command line end to end, on a tiny model and small temporary data sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bertfeat.cli import main

pd = pytest.importorskip("pandas")
ROOT = Path(__file__).resolve().parents[1]

POSITIVE = ["great stay, friendly staff", "lovely room and a great view", "the breakfast was great", "great value, would return",
            "clean, quiet and great service", "a great location near the station"]
NEGATIVE = ["dirty room and rude staff", "awful noise all night", "the shower was broken and dirty", "rude reception, awful stay",
            "never again, dirty sheets", "awful food and a broken lift"]


@pytest.fixture(autouse=True)
def bertfeat_home(tmp_path, monkeypatch) -> Path:
    """The default cache folder lives under $BERTFEAT_HOME: a fresh one per test."""
    home = tmp_path / "bertfeat-home"
    monkeypatch.setenv("BERTFEAT_HOME", str(home))
    return home


@pytest.fixture
def labelled(tmp_path) -> Path:
    frame = pd.DataFrame({"review": POSITIVE + NEGATIVE, "label": ["pos"] * 6 + ["neg"] * 6})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def run(*args) -> int:
    return main([str(a) for a in args])


def test_embed_writes_npy_and_parquet(tiny_bert, labelled, tmp_path):
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert) == 0
    features = np.load(tmp_path / "f.npy")
    assert features.shape == (12, 32) and features.dtype == np.float32
    assert run("embed", labelled, "-o", tmp_path / "f.parquet", "--model", tiny_bert, "--pooling", "cls", "--layers=-2,-1", "--layer-agg", "concat") == 0
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert frame.shape == (12, 64) and frame.columns[0] == "bertvectorizer0"


def test_embed_pairs_from_text_a_text_b(tiny_bert, tmp_path):
    from bertfeat import BertVectorizer

    pairs = [("a cat sat", "a cat was sitting"), ("stocks fell", "it rained")]
    pd.DataFrame(pairs, columns=["text_a", "text_b"]).to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    assert run("embed", tmp_path / "pairs.tsv", "-o", tmp_path / "p.npy", "--model", tiny_bert) == 0
    want = BertVectorizer(model=str(tiny_bert)).fit(pairs).transform(pairs)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, atol=1e-6)


@pytest.mark.parametrize("head", ["logreg", "mlp"])
def test_train_predict_evaluate(tiny_bert, labelled, tmp_path, head):
    model = tmp_path / "model"
    assert run("train", labelled, "--head", head, "-o", model, "--model", tiny_bert) == 0
    meta = json.loads((model / "bertfeat.json").read_text())
    assert meta["text_column"] == "review" and meta["classes"] == ["neg", "pos"]
    new = tmp_path / "new.jsonl"
    pd.DataFrame({"review": ["great staff", "dirty and awful"]}).to_json(new, orient="records", lines=True)
    assert run("predict", model, new, "-o", tmp_path / "pred.csv") == 0
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns) == ["review", "prediction", "proba_neg", "proba_pos"]
    np.testing.assert_allclose(pred[["proba_neg", "proba_pos"]].sum(axis=1), 1.0, atol=1e-6)
    report_dir = tmp_path / "report"
    assert run("evaluate", model, labelled, "-o", report_dir) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert 0.0 <= report["accuracy"] <= 1.0 and report["n"] == 12
    assert [c["name"] for c in report["per_class"]] == ["neg", "pos"]
    worst = pd.read_csv(report_dir / "worst_and_best_examples.csv")
    assert len(worst) > 0 and "loss" in worst.columns
    assert (report_dir / "confusion_matrix.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda d: d / "missing.csv", [], "no such file"),
        (lambda d: _write(d / "x.csv", "review,label\nok,a\n"), ["--text-column", "text"], "no text column 'text'"),
        (lambda d: _write(d / "x.xlsx", "junk"), [], "unknown format .xlsx"),
        (lambda d: _write(d / "x.csv", "review,label\n"), [], "the data set is empty"),
        (lambda d: _write(d / "x.csv", "review,label\nok,a\nfine,a\n"), [], "single class"),
        (lambda d: _write(d / "x.parquet", "not parquet"), [], "cannot read it as parquet"),
    ],
)
def test_helpful_errors_and_exit_code_2(tiny_bert, tmp_path, capsys, make_input, extra, message):
    code = run("train", make_input(tmp_path), "-o", tmp_path / "m", "--model", tiny_bert, *extra)
    assert code == 2
    assert message in capsys.readouterr().err


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_predict_with_a_folder_that_is_not_a_model(tmp_path, labelled, capsys):
    assert run("predict", tmp_path, labelled, "-o", tmp_path / "p.csv") == 2
    assert "not a bertfeat model folder" in capsys.readouterr().err


def test_help_for_every_command(capsys):
    result = subprocess.run([sys.executable, "-m", "bertfeat", "train", "--help"], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)  # the real command, once
    assert result.returncode == 0 and "usage: bertfeat train" in result.stdout
    for command in ("demo", "embed", "train", "predict", "evaluate"):  # the others in this process
        with pytest.raises(SystemExit) as exit_code:
            main([command, "--help"])
        assert exit_code.value.code == 0 and "usage: bertfeat " + command in capsys.readouterr().out


def test_demo_runs_end_to_end(tiny_bert, tmp_path, capsys):
    out = tmp_path / "demo"
    assert run("demo", "-o", out, "--model", tiny_bert, "--folds", "3") == 0
    printed = capsys.readouterr().out
    assert "3-fold cross-validated accuracy" in printed
    report = json.loads((out / "report.json").read_text())
    assert 0.0 <= report["cross_validation"]["accuracy_mean"] <= 1.0
    for picture in ("confusion_matrix.png", "umap_panels.png"):
        assert (out / picture).stat().st_size > 1000


# -- issue 16: no wasted work, arguments checked first, rows named by line -------------------
def encoded() -> int:
    from bertfeat import encoding_stats

    return encoding_stats()["texts"]


def test_train_encodes_each_text_once_and_the_next_command_encodes_nothing(tiny_bert, labelled, tmp_path, bertfeat_home, capsys):
    before = encoded()
    assert run("train", labelled, "-o", tmp_path / "m", "--model", tiny_bert) == 0
    assert encoded() - before == 12  # 12 distinct texts, encoded once (fit and training accuracy share them)
    assert "train accuracy" in capsys.readouterr().out
    assert any((bertfeat_home / "cache").iterdir())  # the default cache folder, under $BERTFEAT_HOME
    before = encoded()
    assert run("evaluate", tmp_path / "m", labelled, "-o", tmp_path / "r", "--no-pictures") == 0
    assert run("predict", tmp_path / "m", labelled, "-o", tmp_path / "p.csv") == 0
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert) == 0
    assert encoded() == before  # all from the cache
    assert run("embed", labelled, "-o", tmp_path / "g.npy", "--model", tiny_bert, "--no-cache") == 0
    assert encoded() - before == 12
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), np.load(tmp_path / "g.npy"))


def test_cache_dir_option_is_used(tiny_bert, labelled, tmp_path, bertfeat_home):
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert, "--cache-dir", tmp_path / "mine") == 0
    assert any((tmp_path / "mine").iterdir()) and not (bertfeat_home / "cache").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["embed", "{data}", "-o", "{tmp}/x.csv"], "unknown feature file format .csv; use .npy or .parquet"),
        (["embed", "{data}", "-o", "{tmp}/x.npy", "--layers", "a,b"], "--layers 'a,b'"),
        (["embed", "{data}", "-o", "{tmp}/x.npy", "--model", "{tmp}/no-model"], "--model"),
        (["embed", "{data}", "-o", "{tmp}/x.npy", "--cache-dir", "{tmp}/c", "--no-cache"], "contradict"),
        (["embed", "{data}", "-o", "{data}/x.npy"], "is not a folder"),
        (["train", "{data}", "-o", "{data}"], "is a file; the model folder is a folder"),
        (["predict", "{tmp}", "{data}", "-o", "{tmp}/p.xlsx"], "unknown predictions file format .xlsx"),
        (["predict", "{tmp}", "{data}", "-o", "{tmp}/p.csv"], "not a bertfeat model folder"),
        (["evaluate", "{tmp}", "{tmp}/missing.csv", "-o", "{tmp}/r"], "no such file"),
    ],
)
def test_arguments_and_paths_are_checked_before_any_encoding(tiny_bert, labelled, tmp_path, capsys, args, message):
    before = encoded()
    argv = [a.format(data=labelled, tmp=tmp_path) for a in args]
    if "--model" not in argv and argv[0] in ("embed", "train"):
        argv += ["--model", str(tiny_bert)]
    assert run(*argv) == 2
    assert message in capsys.readouterr().err
    assert encoded() == before


def test_malformed_jsonl_is_named_by_line_number(tiny_bert, tmp_path, capsys):
    path = _write(tmp_path / "x.jsonl", '{"text": "fine", "label": 0}\n\n{"text": "also fine", "label": 1}\n{"text": broken}\n')
    assert run("train", path, "-o", tmp_path / "m", "--model", tiny_bert) == 2
    assert "line 4 is not valid JSON" in capsys.readouterr().err


def test_numbers_in_a_text_column_are_refused(tiny_bert, tmp_path, capsys):
    csv_path = _write(tmp_path / "x.csv", "review,label\nok,0\nfine,1\nbad,2\n")
    assert run("embed", csv_path, "-o", tmp_path / "f.npy", "--text-column", "label", "--model", tiny_bert) == 2
    assert "column 'label' holds only numbers" in capsys.readouterr().err
    jsonl = _write(tmp_path / "x.jsonl", '{"text": "ok"}\n{"text": "fine"}\n{"text": 7}\n')
    assert run("embed", jsonl, "-o", tmp_path / "f.npy", "--model", tiny_bert) == 2
    err = capsys.readouterr().err
    assert "line 3: column 'text' holds 7 (int), not a text" in err and "np." not in err


def test_single_class_message_has_no_numpy_repr(tiny_bert, tmp_path, capsys):
    path = _write(tmp_path / "x.csv", "review,label\nok,1\nfine,1\n")
    assert run("train", path, "-o", tmp_path / "m", "--model", tiny_bert) == 2
    err = capsys.readouterr().err
    assert "single class (1)" in err and "np.int64" not in err


def test_empty_texts_are_named_or_dropped_with_a_count(tiny_bert, tmp_path, capsys):
    path = _write(tmp_path / "x.csv", "review,label\ngreat,pos\n   ,neg\nawful,neg\n,pos\nnice,pos\n")
    assert run("train", path, "-o", tmp_path / "m", "--model", tiny_bert) == 2
    err = capsys.readouterr().err
    assert "line 3: empty text (and 1 more)" in err and "--drop-empty" in err
    assert run("train", path, "-o", tmp_path / "m", "--model", tiny_bert, "--drop-empty") == 0
    assert "dropped 2 rows with an empty text" in capsys.readouterr().out
    assert json.loads((tmp_path / "m" / "bertfeat.json").read_text())["rows"] == 3


def test_progress_switch(tiny_bert, labelled, tmp_path, capsys):
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert, "--progress", "--no-cache") == 0
    err = capsys.readouterr().err
    assert "encoding 12 rows" in err and "tok" in err  # the bar counts tokens
    assert run("embed", labelled, "-o", tmp_path / "f.npy", "--model", tiny_bert, "--no-progress", "--no-cache") == 0
    assert capsys.readouterr().err == ""


def _python_m_bertfeat(*args, env_home: Path):
    return subprocess.run([sys.executable, "-m", "bertfeat", *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), BERTFEAT_HOME=str(env_home)))


def test_real_command_refuses_a_numeric_text_column_with_exit_2(tiny_bert, tmp_path, bertfeat_home):
    path = _write(tmp_path / "x.csv", "review,label\nok,0\nfine,1\n")
    result = _python_m_bertfeat("embed", path, "-o", tmp_path / "f.npy", "--text-column", "label", "--model", tiny_bert,
                                env_home=bertfeat_home)
    assert result.returncode == 2 and "holds only numbers" in result.stderr and not (tmp_path / "f.npy").exists()


def test_help_shows_defaults():
    from bertfeat.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    train_help = commands["train"].format_help()
    for default in ("(default: logreg)", "(default: mean)", "(default: auto)", "(default: 3)"):
        assert default in " ".join(train_help.split()), default
    assert "(default: 5)" in commands["demo"].format_help()


# -- issue 16: the evaluation report, checked against scikit-learn on the same predictions -------
def test_evaluate_report_matches_sklearn_and_names_labels(tiny_bert, tmp_path):
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    from bertfeat.cli.commands import _load

    texts = POSITIVE + NEGATIVE + ["the bed was fine", "an ordinary room"]
    labels = [1] * 6 + [0] * 6 + [2, 2]
    names = {0: "negative", 1: "positive", 2: "neutral"}
    frame = pd.DataFrame({"text": texts, "label": labels, "label_text": [names[v] for v in labels]})
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    assert run("train", tmp_path / "d.jsonl", "-o", tmp_path / "m", "--model", tiny_bert, "--C", "0.5") == 0
    assert run("evaluate", tmp_path / "m", tmp_path / "d.jsonl", "-o", tmp_path / "r", "--label-names-column", "label_text") == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())

    estimator, _ = _load(tmp_path / "m")
    predicted = estimator.predict(texts)
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert report["f1_macro"] == pytest.approx(f1_score(labels, predicted, average="macro"))
    precision, recall, _, support = precision_recall_fscore_support(labels, predicted, labels=[0, 1, 2], zero_division=0)
    assert [c["name"] for c in report["per_class"]] == ["negative", "positive", "neutral"]
    np.testing.assert_allclose([c["precision"] for c in report["per_class"]], precision)
    np.testing.assert_allclose([c["recall"] for c in report["per_class"]], recall)
    assert report["confusion_matrix"]["counts"] == confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()
    zeros = np.zeros((len(labels), 1))
    majority = DummyClassifier(strategy="most_frequent").fit(zeros, labels).predict(zeros)  # the training set is this file
    assert report["baselines"]["majority"]["accuracy"] == pytest.approx(accuracy_score(labels, majority))
    stratified = DummyClassifier(strategy="stratified", random_state=0).fit(zeros, labels).predict(zeros)
    assert report["baselines"]["stratified"]["accuracy"] == pytest.approx(accuracy_score(labels, stratified))
    page = (tmp_path / "r" / "report.html").read_text()
    for part in ("majority class (always negative)", "neutral", "confusion_matrix.png", "umap_panels.png", "Highest-loss examples"):
        assert part in page
    for picture in ("confusion_matrix.png", "umap_panels.png"):
        assert (tmp_path / "r" / picture).stat().st_size > 1000
    worst = pd.read_csv(tmp_path / "r" / "worst_and_best_examples.csv")
    assert set(worst["label"]) <= set(names.values())


def test_evaluate_says_plainly_when_the_majority_class_wins(tiny_bert, labelled, tmp_path, capsys):
    frame = pd.DataFrame({"review": POSITIVE + NEGATIVE[:3], "label": ["pos"] * 6 + ["neg"] * 3})
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert run("train", tmp_path / "train.csv", "-o", tmp_path / "m", "--model", tiny_bert) == 0
    pd.DataFrame({"review": POSITIVE[:4], "label": ["pos"] * 4}).to_csv(tmp_path / "all_pos.csv", index=False)
    assert run("evaluate", tmp_path / "m", tmp_path / "all_pos.csv", "-o", tmp_path / "r", "--no-pictures") == 0
    out = capsys.readouterr().out
    assert "WARNING: the model does not beat the majority-class baseline" in out and "'pos'" in out
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["baselines"]["majority"]["accuracy"] == 1.0 and report["baselines"]["fitted_on"] == "training labels"
    assert "does not beat" in (tmp_path / "r" / "report.html").read_text()


def test_progress_bar_counts_the_tokenizers_tokens(tiny_bert, monkeypatch):
    from transformers import AutoTokenizer

    from bertfeat import BertVectorizer
    from bertfeat._progress import TokenProgress

    seen = []
    monkeypatch.setattr(TokenProgress, "close", lambda self: seen.append((self._bar.n, self._bar.total, self._bar.unit)))
    texts = POSITIVE + NEGATIVE
    BertVectorizer(model=str(tiny_bert), progress=True).fit_transform(texts)
    tokens = sum(len(ids) for ids in AutoTokenizer.from_pretrained(str(tiny_bert))(texts)["input_ids"])
    assert seen == [(tokens, tokens, "tok")]


def test_real_commands_leave_no_temporary_folders(tiny_bert, labelled, tmp_path, bertfeat_home):
    scratch = tmp_path / "tmp"  # the commands' own TMPDIR, so other processes on the machine do not blur the check
    scratch.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), BERTFEAT_HOME=str(bertfeat_home), TMPDIR=str(scratch))
    for args in (["train", labelled, "-o", tmp_path / "m", "--model", tiny_bert],
                 ["evaluate", tmp_path / "m", labelled, "-o", tmp_path / "r"]):
        result = subprocess.run([sys.executable, "-m", "bertfeat", *map(str, args)], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "r" / "report.html").is_file()
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("bertfeat")) == []
