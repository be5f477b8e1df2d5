"""Words to sub-tokens and windows (bertfeat.tokens._align, _words), checked against the
fast tokenizer's own ``word_ids`` and ids."""

from __future__ import annotations

import numpy as np
import pytest

from token_reference import context, reference_windows

from bertfeat._store import load_tokenizer
from bertfeat.tokens._align import IGNORE, align_words
from bertfeat.tokens._words import check_sentences, check_tags

SENTENCES = [
    ["Jürgen", "Habermas", "visited", "Reykjavík", "yesterday", "."],
    ["unbelievably", "short"],
    ["a"],
]


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def reference(tokenizer, words):
    """The tokenizer's own ids and word_ids for one sentence, special tokens included."""
    enc = tokenizer(words, is_split_into_words=True)
    return enc["input_ids"], enc.word_ids()


def test_short_sentences_are_one_window_each_as_the_tokenizer_gives(tokenizer):
    windows = align_words(tokenizer, SENTENCES, 128, 32, True)
    assert len(windows.tokenized) == len(SENTENCES)
    for s, words in enumerate(SENTENCES):
        ids, _ = reference(tokenizer, words)
        assert windows.tokenized.window(s) == ids
    assert windows.offsets.tolist() == [0, 6, 8, 9]


def test_labels_sit_on_each_words_first_sub_token(tokenizer):
    windows = align_words(tokenizer, SENTENCES, 128, 32, True)
    codes = np.arange(windows.n_words) + 1
    labels = windows.labels(codes)
    for s, words in enumerate(SENTENCES):
        _, word_ids = reference(tokenizer, words)
        expected = [
            IGNORE if w is None or (j > 0 and word_ids[j - 1] == w) else int(codes[windows.offsets[s] + w])
            for j, w in enumerate(word_ids)
        ]
        assert labels[s].tolist() == expected
    # some words really are split, so "first sub-token" is tested
    assert any(len(tokenizer.tokenize(w)) > 1 for w in SENTENCES[0])


def test_mean_spans_cover_each_words_sub_tokens(tokenizer):
    windows = align_words(tokenizer, SENTENCES, 128, 32, True)
    for s, words in enumerate(SENTENCES):
        _, word_ids = reference(tokenizer, words)
        for w in range(len(words)):
            k = windows.offsets[s] + w
            assert windows.span[k] == word_ids.count(w)
            assert word_ids[windows.position[k]] == w and (windows.position[k] == 0 or word_ids[windows.position[k] - 1] != w)


@pytest.mark.parametrize("max_length, stride", [(12, 3), (16, 6), (9, 0)])
def test_long_sentences_read_every_word_once_with_most_context(tokenizer, max_length, stride):
    words = ("the quick brownish foxes jumped over unbelievably lazy dogs near Reykjavík " * 4).split()
    windows = align_words(tokenizer, [words, ["short", "one"]], max_length, stride, True)
    ids, word_ids = reference(tokenizer, words)
    content, content_words = ids[1:-1], word_ids[1:-1]
    room = max_length - 2
    starts = reference_windows(len(content), room, stride)
    mine = [w for w, owner in enumerate(windows.tokenized.owners) if owner == 0]
    assert len(mine) == len(starts) > 2
    for i, start in zip(mine, starts):
        assert windows.tokenized.window(i) == [ids[0], *content[start : start + room], ids[-1]]
        assert len(windows.tokenized.window(i)) <= max_length
    for w in range(len(words)):
        first = content_words.index(w)
        win, pos = windows.window[w], windows.position[w]
        assert windows.tokenized.window(win)[pos] == content[first]  # the word's own first sub-token
        start = starts[mine.index(win)]
        assert start + pos - 1 == first
        assert context(first, start, room, len(content)) == max(context(first, s, room, len(content)) for s in starts)
    assert windows.n_words == len(words) + 2


def test_a_word_without_sub_tokens_is_named(tokenizer):
    with pytest.raises(ValueError, match=r"sentence 1, word 2 \('\\u200b'\) gives no sub-token"):
        align_words(tokenizer, [["fine"], ["a", "b", "\u200b"]], 128, 32, True)


def test_stride_must_move_windows_forward(tokenizer):
    with pytest.raises(ValueError, match="stride=10 must be smaller"):
        align_words(tokenizer, [["word"] * 30], 12, 10, True)


@pytest.mark.parametrize(
    "X, message",
    [
        ("Ann lives in Rome", "X is a str"),
        ([], "X holds no sentences"),
        ([["ok"], "Ann lives"], "sentence 1 of X is a str"),
        ([["ok"], []], "sentence 1 of X is empty"),
        ([["ok", "fine"], ["a", 3]], r"sentence 1, word 1 of X is 3 \(int\)"),
        ([["ok", ""]], "sentence 0, word 1 of X is empty"),
        ([["ok", "  "]], r"sentence 0, word 1 of X is blank"),
        ([["ok"], None], "sentence 1 of X is a NoneType"),
    ],
)
def test_bad_sentences_are_named(X, message):
    with pytest.raises(ValueError, match=message):
        check_sentences(X)


@pytest.mark.parametrize(
    "y, message",
    [
        (None, "y is required"),
        ([["O", "O"]], "X has 2 sentences but y has 1"),
        ([["O", "O"], ["O"]], "sentence 1: X has 2 words but y has 1 tags"),
        ([["O", "O"], ["O", 1]], r"sentence 1, word 1 of y: tag 1 \(int\)"),
        ([["O", "O"], ["O", ""]], "sentence 1, word 1 of y: tag ''"),
    ],
)
def test_bad_tags_are_named(y, message):
    with pytest.raises(ValueError, match=message):
        check_tags(y, [["a", "b"], ["c", "d"]])


def test_arrays_and_tuples_are_read_as_lists():
    X = np.array([np.array(["a", "b"]), ("c",)], dtype=object)
    assert check_sentences(X) == [["a", "b"], ["c"]]
    assert all(type(w) is str for w in check_sentences([np.array(["a", "b"])])[0])
