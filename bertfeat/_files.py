"""One set of rules for reading data files, shared by the command line and Dask.

The command line reads a whole file with pandas (``bertfeat.cli.readers``); Dask reads
it lazily in partitions (``bertfeat.dask``). Both follow these rules, so a file means
the same rows whichever reads it:

- ``.txt``: one text per line, split on ``"\n"`` only (a text may hold other Unicode
  line separators); a trailing ``"\r"`` is removed. A blank line is an empty text, a
  row like any other (the command line refuses it, naming the line, unless
  ``--drop-empty``); a newline at the end of the file does not start another row.
- ``.csv`` / ``.tsv``: a header row, then records; every cell is read as a string (no
  guessing of numbers, dates or "NA"), an empty field is ``""``. In ``.tsv`` quotes are
  ordinary characters (MRPC-style files hold bare quotes inside texts).
- ``.jsonl`` / ``.json``: one JSON object per line, blank lines skipped; values stay
  as JSON wrote them (strings stay strings, no date conversion).
- ``.parquet`` / ``.pq``: as stored.
- CoNLL-style word files (token classification; any suffix, read by :func:`read_conll`):
  one word per line, its tag in the last whitespace-separated column (so ``word tag``
  and the four columns of CoNLL-2003 both read), a blank line between sentences,
  ``-DOCSTART-`` lines ignored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

KINDS = {
    ".txt": "txt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# pandas.read_csv / dask.dataframe.read_csv options, per kind.
CSV_OPTIONS = {
    "csv": {"keep_default_na": False, "dtype": object},
    "tsv": {"sep": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False, "dtype": object, "encoding": "utf-8-sig"},
}
# pandas.read_json / dask.dataframe.read_json options (JSON lines).
JSON_OPTIONS = {"lines": True, "dtype": False, "convert_dates": False}


def kind_of(path) -> str | None:
    """``"txt"``, ``"csv"``, ``"tsv"``, ``"jsonl"``, ``"parquet"``, or None for an unknown suffix."""
    return KINDS.get(Path(path).suffix.lower())


def txt_line(line: str) -> str:
    """The text on one ``.txt`` line, its newline removed."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def numbered_txt_lines(text: str) -> tuple[list[str], list[int]]:
    """Texts of a whole ``.txt`` file and the 1-based line number of each."""
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":  # the file's final newline ends the last line
        pieces.pop()
    return [txt_line(piece) for piece in pieces], list(range(1, len(pieces) + 1))


def record_start_lines(path, kind: str) -> list[int]:
    """1-based file line where each data record of a ``.csv``/``.tsv`` file starts.

    Quoted fields may span lines, so this follows the csv grammar rather than counting
    newlines. Used only to name the line of a bad row.
    """
    options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {}
    starts = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, **options)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for row in reader:
            if row:  # pandas skips blank lines too
                starts.append(start)
            start = reader.line_num + 1
    return starts


# -- CoNLL-style word files ------------------------------------------------------------
DOCSTART = "-DOCSTART-"


@dataclass
class ConllSentences:
    """Sentences of a CoNLL-style file: words, tags (None when not read) and the file
    line of each word (1-based), to name a line in later errors."""

    words: list[list[str]]
    tags: list[list[str]] | None
    lines: list[list[int]]


def read_conll(path, tags: bool = True) -> ConllSentences:
    """Sentences of a CoNLL-style file.

    The word is a line's first whitespace-separated column and the tag its last, so
    ``word tag`` files and CoNLL-2003's ``word POS chunk tag`` both read. Blank lines end
    sentences (several in a row are one break); ``-DOCSTART-`` lines are skipped.
    ``tags=False`` reads the words only (a line may then hold just the word).

    Raises
    ------
    ValueError
        Naming the file and line: not UTF-8 text, a word line without a tag (``tags=True``),
        or a file with no sentence at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    words: list[list[str]] = []
    tag_lists: list[list[str]] = []
    lines: list[list[int]] = []
    sentence: list[str] = []
    sentence_tags: list[str] = []
    sentence_lines: list[int] = []

    def close() -> None:
        if sentence:
            words.append(list(sentence))
            tag_lists.append(list(sentence_tags))
            lines.append(list(sentence_lines))
        sentence.clear()
        sentence_tags.clear()
        sentence_lines.clear()

    pieces, numbers = numbered_txt_lines(text)
    for number, line in zip(numbers, pieces):
        columns = line.split()
        if not columns:
            close()
            continue
        if columns[0] == DOCSTART:
            close()  # a document break is a sentence break too
            continue
        if tags and len(columns) < 2:
            raise ValueError(
                f"{path}: line {number} holds {line.strip()!r} but no tag; expected a word and its tag "
                "separated by whitespace (e.g. 'Rome B-LOC'; the tag is the last column)"
            )
        sentence.append(columns[0])
        sentence_tags.append(columns[-1])
        sentence_lines.append(number)
    close()
    if not words:
        raise ValueError(f"{path}: no sentences; expected one 'word tag' line per word and a blank line between sentences")
    return ConllSentences(words, tag_lists if tags else None, lines)
