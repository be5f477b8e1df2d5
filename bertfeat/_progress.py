"""A progress bar counted in tokens, so that its time estimate holds from the start.

Texts are encoded longest first (sorted length batches), so a bar counted in texts or
windows starts slow and its first estimate is far too high. The work of a batch grows
with its tokens, so a bar counted in tokens moves at a steadier rate.
"""

from __future__ import annotations


class TokenProgress:
    """tqdm bar in tokens over ``n_texts`` texts that are tokenized chunk by chunk.

    ``planned(tokens, texts)`` after tokenizing a chunk; ``update(tokens)`` after each
    batch. Until every chunk is tokenized, the total counts the texts still to come at
    the mean tokens per text seen so far.
    """

    def __init__(self, n_texts: int, desc: str = "bertfeat"):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=0, unit="tok", unit_scale=True, desc=desc, leave=False)
        self._n_texts, self._texts, self._tokens = n_texts, 0, 0

    def planned(self, tokens: int, texts: int) -> None:
        self._tokens += tokens
        self._texts += texts
        still_to_come = max(self._n_texts - self._texts, 0)
        self._bar.total = self._tokens + round(self._tokens / max(self._texts, 1) * still_to_come)
        self._bar.refresh()

    def update(self, tokens: int) -> None:
        self._bar.update(tokens)

    def close(self) -> None:
        self._bar.close()
