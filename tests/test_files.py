"""One reading of data files: the command line and Dask agree row for row (issue 11)."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas")
dask = pytest.importorskip("dask")

from bertfeat.cli.readers import read_table  # noqa: E402
from bertfeat.dask import read_files  # noqa: E402

# Blank and whitespace-only lines, Windows line ends, and a Unicode line separator inside a text.
TXT = "first text\r\n\r\n  \nsecond\u2028still the second\n\n third, indented\nlast without newline"
EXPECTED = ["first text", "", "  ", "second\u2028still the second", "", " third, indented", "last without newline"]


def test_txt_with_blank_lines_reads_the_same_in_the_cli_and_in_dask(tmp_path):
    from bertfeat.cli.readers import DataError

    path = tmp_path / "texts.txt"
    path.write_bytes(TXT.encode("utf-8"))
    with pytest.raises(DataError, match="line 2: empty text \\(and 2 more\\)"):
        read_table(path)
    assert read_table(path, drop_empty=True).X == [t for t in EXPECTED if t.strip()]  # blank lines are empty texts
    from bertfeat.cli.readers import _read_frame

    assert _read_frame(path)[0]["text"].tolist() == EXPECTED  # the rows the command line reads, before its checks
    assert read_files(str(path)).compute(scheduler="synchronous") == EXPECTED
    assert read_files(str(path), blocksize=16).compute(scheduler="synchronous") == EXPECTED  # split partitions too


def test_jsonl_and_csv_cells_read_the_same(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n\n{"text": "2020-01-01", "label": 0}\n   \n{"text": "c", "label": 1}\n')
    cli = read_table(jsonl, label_column="label").frame
    lazy = read_files(str(jsonl)).compute(scheduler="synchronous").reset_index(drop=True)
    assert cli["text"].tolist() == lazy["text"].tolist() == ["a", "2020-01-01", "c"]  # no date conversion
    assert cli["label"].tolist() == lazy["label"].tolist() == [1, 0, 1]

    csv = tmp_path / "d.csv"
    csv.write_text('text,label\n"a, quoted",1\n\nNA,0\n"two\nlines",1\n')
    cli = read_table(csv).frame
    lazy = read_files(str(csv)).compute(scheduler="synchronous").reset_index(drop=True)
    assert cli["text"].tolist() == lazy["text"].tolist() == ["a, quoted", "NA", "two\nlines"]  # "NA" stays a text
    assert cli["label"].tolist() == lazy["label"].tolist() == ["1", "0", "1"]


def test_bad_rows_are_named_by_their_file_line(tmp_path):
    from bertfeat.cli.readers import DataError

    csv = tmp_path / "d.csv"
    csv.write_text('text,label\n"two\nlines",1\n\nok,0\n"",1\n')  # the empty text starts on line 6
    with pytest.raises(DataError, match="line 6: empty text"):
        read_table(csv)
    table = read_table(csv, drop_empty=True)
    assert table.X == ["two\nlines", "ok"] and table.dropped == 1
