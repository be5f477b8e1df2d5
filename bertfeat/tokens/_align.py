"""Words to sub-tokens, and sentences longer than the model's window read in overlapping
windows, so that every word is predicted.

Alignment comes from the fast tokenizer itself: each sentence is tokenized once with
``is_split_into_words=True`` and its ``word_ids()`` say which word each sub-token belongs
to. A word is read at its first sub-token (the usual convention: the label goes there,
``-100`` elsewhere); ``"mean"`` word vectors average the word's sub-tokens.

A sentence of more sub-tokens than fit in one window (``max_length`` less the special
tokens) is cut into windows of that size that overlap by ``stride`` sub-tokens, the
last one ending at the sentence's end; every window gets the tokenizer's own special
tokens. Each word is then read in one window only: the one where its first sub-token is
farthest from a cut (a window edge that is not the sentence's own start or end), so it
sees the most context on both sides. Training labels the word in that window only, so
no word counts twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bertfeat._batching import Tokenized

IGNORE = -100  # label of sub-tokens that carry none (cross-entropy's ignore_index)


@dataclass
class WordWindows:
    """Windows of token ids, and where each word is read.

    Words are numbered across all sentences in order: sentence ``s`` owns words
    ``offsets[s]:offsets[s + 1]``.
    """

    tokenized: Tokenized  # windows; ``owners`` is the sentence of each window
    offsets: np.ndarray  # (n_sentences + 1,) first word of each sentence
    window: np.ndarray  # (n_words,) window each word is read in
    position: np.ndarray  # (n_words,) position of its first sub-token in that window
    span: np.ndarray  # (n_words,) its sub-tokens in that window (from ``position`` on)

    @property
    def n_words(self) -> int:
        return len(self.window)

    def split(self, rows: np.ndarray) -> list[np.ndarray]:
        """Per-word rows (``(n_words, ...)``) cut into one array per sentence."""
        return np.split(rows, self.offsets[1:-1])

    def labels(self, codes: np.ndarray) -> list[np.ndarray]:
        """Per-window label rows: each word's code at its first sub-token, ``IGNORE`` elsewhere."""
        rows = [np.full(int(n), IGNORE, dtype=np.int64) for n in self.tokenized.lengths]
        for w, (win, pos) in enumerate(zip(self.window, self.position)):
            rows[win][pos] = codes[w]
        return rows


def window_starts(n_tokens: int, room: int, stride: int) -> list[int]:
    """Starts of windows of ``room`` sub-tokens overlapping by ``stride``; the last ends at
    ``n_tokens`` (a full window, not a short tail)."""
    if n_tokens <= room:
        return [0]
    step = room - stride
    starts = list(range(0, n_tokens - room, step))
    starts.append(n_tokens - room)
    return starts


def best_window(first: int, starts: list[int], room: int, n_tokens: int) -> int:
    """The window where sub-token ``first`` is farthest from a cut edge (ties: the earlier)."""
    best, best_room = 0, -1
    for i, start in enumerate(starts):
        end = min(start + room, n_tokens)
        if not start <= first < end:
            continue
        left = first - start if start > 0 else n_tokens  # the sentence's own start is no cut
        right = end - 1 - first if end < n_tokens else n_tokens
        context = min(left, right)
        if context > best_room:
            best, best_room = i, context
    return best


def align_words(tokenizer, sentences: list[list[str]], max_length: int, stride: int, token_types: bool) -> WordWindows:
    """Tokenize ``sentences`` (lists of words) into windows of at most ``max_length`` tokens.

    Raises
    ------
    ValueError
        For a slow tokenizer (no ``word_ids``), a window with no room for words, a
        ``stride`` that does not move windows forward, or a word the tokenizer turns into
        no sub-token at all (naming the sentence and word): it could get no prediction.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer: word alignment needs its word_ids(); "
            "use a model folder with a tokenizer.json"
        )
    enc = tokenizer(
        sentences,
        is_split_into_words=True,
        add_special_tokens=True,
        truncation=False,
        return_attention_mask=False,
        return_token_type_ids=token_types and "token_type_ids" in tokenizer.model_input_names,
        verbose=False,  # long sentences are expected: they are windowed below
    )
    all_types = enc.get("token_type_ids")
    input_ids, type_ids, owners = [], [] if all_types is not None else None, []
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    window, position, span = [], [], []
    for s, words in enumerate(sentences):
        ids, word_ids = enc["input_ids"][s], enc.word_ids(s)
        inside = [i for i, w in enumerate(word_ids) if w is not None]
        head, tail = inside[0] if inside else len(ids), (inside[-1] + 1) if inside else len(ids)
        room = max_length - head - (len(ids) - tail)
        if room < 1:
            raise ValueError(f"max_length={max_length} leaves no room for words next to the special tokens")
        if stride >= room and tail - head > room:
            raise ValueError(
                f"stride={stride} must be smaller than max_length minus special tokens ({room}) so that "
                f"windows move forward (sentence {s} needs {tail - head} sub-tokens)"
            )
        content = word_ids[head:tail]
        first, count = {}, {}
        for i, w in enumerate(content):
            if w is not None:
                first.setdefault(w, i)
                count[w] = count.get(w, 0) + 1
        if len(first) != len(words):
            missing = next(w for w in range(len(words)) if w not in first)
            raise ValueError(
                f"sentence {s}, word {missing} ({words[missing]!r}) gives no sub-token with this "
                "tokenizer (it drops such characters), so it could get no prediction; remove or replace it"
            )
        starts = window_starts(tail - head, room, stride)
        base = len(input_ids)
        for start in starts:
            cut = slice(head + start, head + min(start + room, tail - head))
            input_ids.append(ids[:head] + ids[cut] + ids[tail:])
            if type_ids is not None:
                types = all_types[s]
                type_ids.append(types[:head] + types[cut] + types[tail:])
            owners.append(s)
        for w in range(len(words)):
            i = best_window(first[w], starts, room, tail - head)
            start = starts[i]
            window.append(base + i)
            position.append(head + first[w] - start)
            span.append(min(count[w], start + room - first[w]))
        offsets[s + 1] = offsets[s] + len(words)
    tokenized = Tokenized.from_rows(input_ids, type_ids, owners)
    as_array = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return WordWindows(tokenized, offsets, as_array(window), as_array(position), as_array(span))
