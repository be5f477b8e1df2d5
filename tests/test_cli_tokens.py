"""The command line's token heads (``--head tokens`` / ``tokens-frozen``) on CoNLL-style
files, with a tiny BERT; and the CoNLL reader they share (``bertfeat._files.read_conll``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bertfeat._files import read_conll
from bertfeat.cli import main

NAMES = [("Anna", "Smith"), ("Bob",), ("Carla", "Diaz"), ("Dan",), ("Eva", "Lund", "Berg"), ("Finn",)]
FRAMES = [("met", "{} in", "the", "park"), ("{} said", "hello"), ("we", "saw", "{}", "today")]


def sentences(names=NAMES):
    """Sentences with a name put in, and their IOB2 tags."""
    words, tags = [], []
    for i, name in enumerate(names):
        frame = FRAMES[i % len(FRAMES)]
        w, t = [], []
        for piece in frame:
            for part in piece.split():
                if part == "{}":
                    w += list(name)
                    t += ["B-PER"] + ["I-PER"] * (len(name) - 1)
                else:
                    w.append(part)
                    t.append("O")
        words.append(w)
        tags.append(t)
    return words, tags


def write_file(path: Path, words, tags=None, docstart=True, columns=2) -> Path:
    lines = ["-DOCSTART- -X- -X- O", ""] if docstart else []
    for s, sentence in enumerate(words):
        for w, word in enumerate(sentence):
            middle = ["NN", "I-NP"] if columns == 4 else []
            lines.append(" ".join([word, *middle, *([tags[s][w]] if tags is not None else [])]))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def bertfeat_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "bertfeat-home"
    monkeypatch.setenv("BERTFEAT_HOME", str(home))
    return home


def run(*args) -> int:
    return main([str(a) for a in args])


# -- the reader ------------------------------------------------------------------------
def test_reader_takes_first_column_as_word_and_last_as_tag(tmp_path):
    words, tags = sentences()
    got = read_conll(write_file(tmp_path / "four.conll", words, tags, columns=4))
    assert got.words == words and got.tags == tags
    assert got.lines[0][0] == 3  # after the -DOCSTART- line and its blank line
    plain = read_conll(write_file(tmp_path / "two.txt", words, tags, docstart=False))
    assert plain.words == words and plain.tags == tags and plain.lines[0][0] == 1


def test_reader_blank_lines_tabs_and_crlf(tmp_path):
    path = tmp_path / "messy.conll"
    path.write_bytes(b"\xef\xbb\xbfAnn\tB-PER\r\nruns\tO\r\n\r\n\r\n\r\nBob B-PER\n-DOCSTART- O\nhi O")
    got = read_conll(path)
    assert got.words == [["Ann", "runs"], ["Bob"], ["hi"]]
    assert got.tags == [["B-PER", "O"], ["B-PER"], ["O"]]
    assert got.lines == [[1, 2], [6], [8]]


def test_reader_words_only(tmp_path):
    words, _ = sentences()
    got = read_conll(write_file(tmp_path / "words.txt", words), tags=False)
    assert got.words == words and got.tags is None


@pytest.mark.parametrize(
    "content,message",
    [
        (b"Ann B-PER\nruns\n", r"line 2 holds 'runs' but no tag"),
        (b"\n\n-DOCSTART- O\n\n", "no sentences"),
        (b"Ann B-PER\n\xff\xfe O\n", "line 2 is not UTF-8"),
    ],
)
def test_reader_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.conll"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_conll(path)


# -- the commands ----------------------------------------------------------------------
@pytest.mark.parametrize("head", ["tokens", "tokens-frozen"])
def test_train_predict_evaluate(tiny_bert, tmp_path, head, capsys):
    from bertfeat.tokens import entity_report

    words, tags = sentences(NAMES * 3)
    train = write_file(tmp_path / "train.conll", words, tags, columns=4)
    model = tmp_path / "model"
    tiny_bert_copy = shutil.copytree(tiny_bert, tmp_path / "encoder")
    extra = ["--epochs", 1] if head == "tokens" else []
    assert run("train", train, "--head", head, "-o", model, "--model", tiny_bert_copy, "--max-length", 40, *extra) == 0
    meta = json.loads((model / "bertfeat.json").read_text())
    assert meta["head"] == head and meta["classes"] == ["B-PER", "I-PER", "O"] and meta["sentences"] == len(words)
    # model folders hold no pickle: a persist folder (and the Hugging Face folder when fine-tuned)
    saved = {p.suffix for p in model.rglob("*") if p.is_file()}
    assert not saved & {".pkl", ".pickle", ".joblib"}
    assert (model / "huggingface" / "config.json").is_file() == (head == "tokens")

    test_words, test_tags = sentences([("Gil", "Moe"), ("Hal",), ("Ida", "Ray")])
    unlabelled = write_file(tmp_path / "new.txt", test_words, docstart=False)
    out = tmp_path / "pred.conll"
    # both folders hold their encoder: predicting takes no --model, and the folder works with
    # the training encoder gone
    assert meta["encoder"] == "inside" and (model / "model" / "models").is_dir()
    shutil.rmtree(tiny_bert_copy)
    capsys.readouterr()
    assert run("predict", model, unlabelled, "-o", out, "--model", tiny_bert) == 2
    assert "leave --model out" in capsys.readouterr().err
    assert run("predict", model, unlabelled, "-o", out) == 0
    predicted = read_conll(out)
    assert predicted.words == test_words
    assert all(len(p) == len(w) for p, w in zip(predicted.tags, test_words))
    assert {t for sentence in predicted.tags for t in sentence} <= {"B-PER", "I-PER", "O"}
    # the saved folder predicts what the estimator loaded through persist predicts
    from bertfeat import persist

    loaded = persist.load(model / "model")
    assert predicted.tags == [list(map(str, s)) for s in loaded.predict(test_words)]

    capsys.readouterr()
    labelled = write_file(tmp_path / "test.conll", test_words, test_tags)
    report_dir = tmp_path / "report"
    assert run("evaluate", model, labelled, "-o", report_dir) == 0
    printed = capsys.readouterr().out
    report = json.loads((report_dir / "report.json").read_text())
    want = entity_report(test_tags, predicted.tags)  # scored independently from the written predictions
    assert report["entities"]["micro avg"] == pytest.approx(want["micro avg"])
    assert report["entities"]["PER"]["support"] == 3 and report["sentences"] == 3
    flat_true = [t for s in test_tags for t in s]
    flat_pred = [t for s in predicted.tags for t in s]
    assert report["word_accuracy"] == pytest.approx(np.mean([a == b for a, b in zip(flat_true, flat_pred)]))
    assert "PER" in printed and "micro avg" in printed and f"entity micro F1 {want['micro avg']['f1']:.3f}" in printed
    both = read_conll(report_dir / "predictions.conll")  # word, true tag, predicted tag
    assert both.tags == predicted.tags
    assert [line.split()[1] for line in (report_dir / "predictions.conll").read_text().split("\n") if line] == flat_true


def test_frozen_cli_uses_the_cache(tiny_bert, tmp_path, bertfeat_home):
    words, tags = sentences(NAMES * 2)
    train = write_file(tmp_path / "train.conll", words, tags)
    model = tmp_path / "model"
    assert run("train", train, "--head", "tokens-frozen", "-o", model, "--model", tiny_bert, "--layers=1,2",
               "--layer-agg", "concat") == 0
    assert any((bertfeat_home / "cache").rglob("index.sqlite"))
    from bertfeat import persist

    tagger = persist.load(model / "model", model=str(tiny_bert))
    assert tagger.layers == [1, 2] and tagger.layer_agg == "concat" and tagger.n_features_out_ == 64


def test_train_refuses_a_tag_line_missing_with_its_line(tiny_bert, tmp_path, capsys):
    path = tmp_path / "bad.conll"
    path.write_text("Ann B-PER\nruns O\n\nBob B-PER\nsings\n")
    assert run("train", path, "--head", "tokens-frozen", "-o", tmp_path / "m", "--model", tiny_bert) == 2
    err = capsys.readouterr().err
    assert "line 5" in err and "'sings'" in err and not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "options,message",
    [
        (["--text-column", "text"], "--text-column: not used by the token head"),
        (["--pooling", "cls"], "--pooling: not used"),
        (["--head", "tokens", "--layers=-1"], "--layers: not used"),
        (["--head", "tokens", "--C", "2"], "--C sets the logistic regression"),
        (["--epochs", "5"], "--epochs sets fine-tuning"),
    ],
)
def test_options_that_do_not_apply_are_refused(tiny_bert, tmp_path, capsys, options, message):
    words, tags = sentences()
    train = write_file(tmp_path / "train.conll", words, tags)
    head = [] if "--head" in options else ["--head", "tokens-frozen"]
    assert run("train", train, *head, *options, "-o", tmp_path / "m", "--model", tiny_bert) == 2
    assert message in capsys.readouterr().err


def test_missing_data_file_is_named(tiny_bert, tmp_path, capsys):
    assert run("train", tmp_path / "absent.conll", "--head", "tokens", "-o", tmp_path / "m", "--model", tiny_bert) == 2
    assert "absent.conll: no such file" in capsys.readouterr().err


def test_sentence_model_folders_refuse_the_tagger_model_option(tiny_bert, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    data = tmp_path / "train.csv"
    pd.DataFrame({"text": ["good", "great", "bad", "awful"], "label": [1, 1, 0, 0]}).to_csv(data, index=False)
    assert run("train", data, "-o", tmp_path / "m", "--model", tiny_bert) == 0
    assert run("predict", tmp_path / "m", data, "-o", tmp_path / "p.csv", "--model", tiny_bert) == 2
    assert "leave --model out" in capsys.readouterr().err


def test_embed_token_features_names_positions(tiny_bert, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    from bertfeat import BertVectorizer

    texts = ["a short one", "a somewhat longer text about a hotel room"]
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(texts) + "\n")
    assert run("embed", data, "-o", tmp_path / "f.parquet", "--model", tiny_bert, "--pooling", "tokens", "--max-length", 6) == 0
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert frame.shape == (2, 6 * 32) and frame.columns[0] == "bertvectorizer_t0_d0" and frame.columns[-1] == "bertvectorizer_t5_d31"
    want = BertVectorizer(model=str(tiny_bert), pooling="tokens", max_length=6).fit(texts).transform(texts)
    np.testing.assert_allclose(frame.to_numpy(), want, atol=1e-6)
    assert run("embed", data, "-o", tmp_path / "g.npy", "--model", tiny_bert, "--pooling", "tokens") == 2
    assert "pooling='tokens' needs max_length" in capsys.readouterr().err


# -- the reader on generated files --------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

word = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8).filter(
    lambda w: w.split() == [w] and w != "-DOCSTART-")
tag = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "weird_tag"])
sentence = st.lists(st.tuples(word, tag), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(sentence, min_size=1, max_size=5), blanks=st.integers(1, 3), crlf=st.booleans())
def test_reader_round_trips_any_words(tmp_path, data, blanks, crlf):
    newline = "\r\n" if crlf else "\n"
    text = (newline * (blanks + 1)).join(newline.join(f"{w}\t{t}" for w, t in s) for s in data) + newline
    path = tmp_path / "generated.conll"
    path.write_bytes(text.encode("utf-8"))
    got = read_conll(path)
    assert got.words == [[w for w, _ in s] for s in data] and got.tags == [[t for _, t in s] for s in data]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_reader_on_random_bytes_reads_or_names_the_problem(tmp_path, raw):
    path = tmp_path / "random.conll"
    path.write_bytes(raw)
    try:
        got = read_conll(path)
    except ValueError as exc:
        assert str(path) in str(exc) and ("line" in str(exc) or "no sentences" in str(exc))
    else:
        assert got.words and all(len(w) == len(t) for w, t in zip(got.words, got.tags))
