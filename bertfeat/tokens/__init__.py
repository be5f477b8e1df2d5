"""Token classification (named entities, tagging) on words, scikit-learn style.

- ``_words.py``: input checks (sentences of words, tag lists), errors name sentence and word;
- ``_spans.py``: entity spans from IOB / IOB2 tags and entity-level scores
  (:func:`entity_report`, :func:`entity_f1`).

Importing this package loads no torch.
"""

from bertfeat.tokens._spans import entity_f1, entity_report, entity_spans, sentence_spans

__all__ = ["entity_f1", "entity_report", "entity_spans", "sentence_spans"]
