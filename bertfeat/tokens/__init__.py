"""Token classification (named entities, tagging) on words, scikit-learn style.

- ``finetune.py``: :class:`FineTuneTokenClassifier`, the whole transformer fine-tuned
  with a token-classification head (trained by :mod:`bertfeat.training`);
- ``frozen.py``: :class:`FrozenTokenClassifier`, any scikit-learn classifier on word
  vectors of a frozen encoder (``_vectors.py``: the word vectors and their cache keys);
- ``_words.py``: input checks (sentences of words, tag lists); errors name sentence and word;
- ``_align.py``: words to sub-tokens through the tokenizer's ``word_ids``, long
  sentences in overlapping windows;
- ``_spans.py``: entity spans from IOB / IOB2 tags and entity-level scores
  (:func:`entity_report`, :func:`entity_f1`).

Importing this package loads no torch.
"""

from bertfeat.tokens._spans import entity_f1, entity_report, entity_spans, sentence_spans
from bertfeat.tokens.finetune import FineTuneTokenClassifier
from bertfeat.tokens.frozen import FrozenTokenClassifier

__all__ = [
    "FineTuneTokenClassifier",
    "FrozenTokenClassifier",
    "entity_f1",
    "entity_report",
    "entity_spans",
    "sentence_spans",
]
