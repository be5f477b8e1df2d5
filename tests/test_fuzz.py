"""Generated inputs at scale: the public API on texts, pairs and invalid rows, and the
command line's readers on malformed files.

The default run keeps a small sample of each (``sample``); ``pytest -m slow
tests/test_fuzz.py -s`` runs at least 10,000 API inputs and 2,000 malformed files and
prints the counts recorded in docs/reliability.md. The model is the tiny random BERT of
conftest.py.
"""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertfeat import BertVectorizer

ROOT = Path(__file__).resolve().parents[1]
# (default run, slow run) example counts; the slow API counts add up to 10,000.
N_TEXTS = (15, 4_000)
N_PAIRS = (10, 3_000)
N_INVALID = (40, 3_000)
N_FILES = (15, 2_000)
N_SUBPROCESS = (1, 12)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Thousands of tiny forward passes: one thread is ~20x faster than many on a busy
    machine (no thread wake-ups per small matrix). Put back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sizes(counts):
    fast, slow = counts
    return pytest.mark.parametrize(
        "n", [pytest.param(fast, id="sample"), pytest.param(slow, id="scale", marks=pytest.mark.slow)]
    )


def run_examples(n: int, strategy, check) -> int:
    """Run ``check`` on ``n`` examples of ``strategy``; return how many ran."""
    ran = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=n > 100, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        check(example)
        ran.append(1)

    run()
    return len(ran)


def report(name: str, examples: int, inputs: int) -> None:
    print(f"\n[fuzz] {name}: {examples} examples, {inputs} inputs")


# -- the public API ------------------------------------------------------------------------
SPECIAL = ["\U0001f600", "e\u0301", "\u202e", "\u200b", "\x00", "\x1b[31m", "\r\n", "\u3000", "\ufffd", "\U0010fffd",
           "\u4e2d\u6587", "[CLS]", "[SEP]", "[PAD]", "##ing", " "]  # fmt: skip
valid_char = st.characters(exclude_categories=("Cs",))
text = st.lists(st.one_of(st.text(valid_char, max_size=12), st.sampled_from(SPECIAL)), max_size=20).map("".join)


@pytest.fixture(scope="module")
def vec(tiny_bert):
    return BertVectorizer(model=str(tiny_bert), progress=False).fit(["x"])


@pytest.fixture(scope="module")
def pair_vec(tiny_bert):
    return BertVectorizer(model=str(tiny_bert), truncation="chunk", max_length=24, stride=4, progress=False).fit(
        [("a", "b")]
    )


def check_vectors(vectorizer, items, row):
    out = vectorizer.transform(items)
    assert out.dtype == np.float32 and out.shape == (len(items), 32) and np.isfinite(out).all()
    np.testing.assert_allclose(out[row], vectorizer.transform([items[row]])[0], atol=2e-5, rtol=0)


@sizes(N_TEXTS)
def test_texts_give_finite_vectors_in_order(vec, n):
    inputs = []

    def check(example):
        items, pick = example
        inputs.append(len(items))
        check_vectors(vec, items, pick % len(items))

    ran = run_examples(n, st.tuples(st.lists(text, min_size=1, max_size=8), st.integers(0, 7)), check)
    report("texts", ran, sum(inputs))
    assert ran == n


@sizes(N_PAIRS)
def test_pairs_give_finite_vectors_in_order(pair_vec, n):
    inputs = []

    def check(example):
        items, pick = example
        inputs.append(len(items))
        check_vectors(pair_vec, items, pick % len(items))

    pairs = st.lists(st.tuples(text, text), min_size=1, max_size=6)
    ran = run_examples(n, st.tuples(pairs, st.integers(0, 5)), check)
    report("pairs", ran, sum(inputs))
    assert ran == n


not_text = st.one_of(
    st.none(), st.just(float("nan")), st.floats(), st.integers(), st.binary(max_size=4), st.booleans(),
    st.lists(st.text(max_size=2), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.integers(0xD800, 0xDFFF).map(lambda c: "ok" + chr(c)),  # a lone surrogate inside a string
)  # fmt: skip


def bad_rows(row_strategy, bad_strategy):
    """Rows after a valid first one (which sets the form: texts or pairs), some replaced
    by bad ones: ``(rows, sorted bad row numbers)``."""

    @st.composite
    def build(draw):
        rows = [draw(row_strategy)] + draw(st.lists(row_strategy, min_size=1, max_size=7))
        bad = sorted(draw(st.sets(st.integers(1, len(rows) - 1), min_size=1, max_size=3)))
        for i in bad:
            rows[i] = draw(bad_strategy)
        return rows, bad

    return build()


def is_pair(value) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) for v in value)


@sizes(N_INVALID)
def test_invalid_rows_raise_naming_the_first_bad_row(vec, pair_vec, n):
    plain = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=6)
    bad_pair = st.one_of(
        st.tuples(plain, not_text), st.tuples(not_text, plain), st.lists(plain, max_size=1), st.tuples(plain, plain, plain),
        not_text.filter(lambda v: not is_pair(v)),
    )  # fmt: skip
    inputs = []

    def check(example):
        kind, (rows, bad) = example
        inputs.append(len(rows))
        estimator = vec if kind == "texts" else pair_vec
        with pytest.raises((TypeError, ValueError), match=rf"^X(\[:, [01]\])? row {bad[0]}: "):
            estimator.transform(rows)

    strategy = st.one_of(
        st.tuples(st.just("texts"), bad_rows(plain, not_text)),
        st.tuples(st.just("pairs"), bad_rows(st.tuples(plain, plain), bad_pair)),
    )
    ran = run_examples(n, strategy, check)
    report("invalid rows", ran, sum(inputs))
    assert ran == n


# -- the command line's readers -------------------------------------------------------------
SUFFIXES = [".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet"]
HUGE = "x" * (2 << 20)  # a 2 MB cell


def _encode(text: str, encoding: str) -> bytes:
    return codecs.encode(text, encoding, errors="replace")


@st.composite
def malformed_file(draw):
    """``(suffix, bytes)``: a data file that is broken in one of many ways, or fine."""
    suffix = draw(st.sampled_from(SUFFIXES))
    cell = st.text(max_size=20)
    kind = draw(st.sampled_from(
        ["random-bytes", "wrong-encoding", "unterminated-quote", "huge-cell", "nul-bytes", "json-wrong-shape",
         "ragged-rows", "empty", "header-only", "bom-and-newlines", "valid"]
    ))  # fmt: skip
    rows = draw(st.lists(st.tuples(cell, st.sampled_from(["pos", "neg", "", "1"])), min_size=1, max_size=6))
    if kind == "random-bytes":
        return suffix, draw(st.binary(max_size=300))
    if kind == "wrong-encoding":
        body = "text,label\n" + "".join(f"caf\u00e9 {a},{b}\n" for a, b in rows)
        return suffix, _encode(body, draw(st.sampled_from(["latin-1", "utf-16", "cp1252", "utf-32", "shift_jis"])))
    if kind == "unterminated-quote":
        return suffix, ('text,label\n"never closed,' + "".join(f"{a},{b}\n" for a, b in rows)).encode()
    if kind == "huge-cell":
        if suffix in (".jsonl", ".json"):
            return suffix, (json.dumps({"text": HUGE, "label": "pos"}) + "\n" + json.dumps({"text": "b", "label": "neg"})).encode()
        return suffix, f"text,label\n{HUGE},pos\nsmall,neg\n".encode()
    if kind == "nul-bytes":
        return suffix, ("text,label\n" + "".join(f"a\x00{a},{b}\x00\n" for a, b in rows)).encode("utf-8", "replace")
    if kind == "json-wrong-shape":
        value = draw(st.sampled_from(
            ["[1, 2, 3]", "42", '"text"', "null", '{"text": {"nested": [1]}, "label": [1]}', '{"text": 1.5}',
             '[{"text": "a"}, 3]', '{"a": 1}\n[2]\n"x"', '{"text": "a", "label": "pos"}\n{broken', "{}\n{}"]
        ))  # fmt: skip
        return suffix, value.encode()
    if kind == "ragged-rows":
        return suffix, ("text,label\n" + "".join(f"{a},{b},extra,{a}\n" if i % 2 else f"{a}\n" for i, (a, b) in enumerate(rows))).encode("utf-8", "surrogatepass")
    if kind == "empty":
        return suffix, b""
    if kind == "header-only":
        return suffix, b"text,label\n"
    if kind == "bom-and-newlines":
        body = "\ufefftext,label\r\n" + "\r".join(f"{a},{b}" for a, b in rows) + "\n\n\n"
        return suffix, body.encode("utf-8", "surrogatepass")
    # valid: what the reader is for
    if suffix in (".jsonl", ".json"):
        return suffix, "\n".join(json.dumps({"text": a or "x", "label": b or "pos"}) for a, b in rows).encode("utf-8", "surrogatepass")
    if suffix == ".tsv":
        return suffix, ("text\tlabel\n" + "".join(f"{a or 'x'}\t{b or 'pos'}\n" for a, b in rows)).encode("utf-8", "surrogatepass")
    return suffix, ("text,label\n" + "".join(f"{a or 'x'},{b or 'pos'}\n" for a, b in rows)).encode("utf-8", "surrogatepass")


def _command(index: int, path: Path, out: Path, model: Path) -> list[str]:
    if index % 3 == 2:  # a third of the files go through train (labels read and checked too)
        return ["train", str(path), "--head", "logreg", "-o", str(out / "model"), "--model", str(model)]
    return ["embed", str(path), "-o", str(out / "features.npy"), "--model", str(model)]


def _outcome(argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of ``bertfeat ARGV`` in this process; an exception escaping
    main() (a traceback for the user) fails the test."""
    from bertfeat.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


@sizes(N_FILES)
def test_malformed_files_exit_0_or_2_with_a_message_never_a_traceback(tiny_bert, tmp_path, capsys, n):
    codes = {0: 0, 2: 0}

    def check(example):
        suffix, data = example
        path = tmp_path / f"data{suffix}"
        path.write_bytes(data)
        argv = _command(sum(codes.values()), path, tmp_path, tiny_bert)
        code, err = _outcome(argv, capsys)
        assert code in (0, 2), f"exit {code} for {data[:80]!r}{suffix}: {err[-500:]}"
        if code == 2:
            assert "error:" in err and "Traceback" not in err, err[-500:]
        codes[code] += 1

    ran = run_examples(n, malformed_file(), check)
    report(f"malformed files (exit 0: {codes[0]}, exit 2: {codes[2]})", ran, ran)
    assert ran == n and codes[2] > 0


@sizes(N_SUBPROCESS)
def test_malformed_files_in_a_real_process(tiny_bert, tmp_path, n):
    """The same through ``python -m bertfeat``: exit 0 or 2, a message, no traceback."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    samples = [(".csv", b'text,label\n"open quote,pos\n'), (".jsonl", b"[1, 2]\n"), (".txt", b"\xff\xfe\x00bad"),
               (".parquet", os.urandom(64)), (".tsv", b"text\tlabel\na\x00b\tpos\n"), (".json", b"42")]  # fmt: skip
    for i in range(n):
        suffix, data = samples[i % len(samples)]
        path = tmp_path / f"data{i}{suffix}"
        path.write_bytes(data if i < len(samples) else data + os.urandom(16))
        result = subprocess.run(
            [sys.executable, "-m", "bertfeat", *_command(i, path, tmp_path, tiny_bert)],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert result.returncode in (0, 2), result.stderr[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
        if result.returncode == 2:
            assert "error:" in result.stderr
    report("malformed files, subprocess", n, n)
