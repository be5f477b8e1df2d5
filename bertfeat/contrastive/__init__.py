"""Contrastive fine-tuning for few labels (SetFit's recipe) as a scikit-learn estimator.

=================  ===========================================================
room               job
=================  ===========================================================
``pairs``          positive / negative pairs from labels (linear in the data)
``classifier``     ``ContrastiveClassifier``: parameters, fit, inference
``export``         sentence-transformers folders, ``from_pretrained``, state
=================  ===========================================================
"""

from bertfeat.contrastive.classifier import ContrastiveClassifier
from bertfeat.contrastive.pairs import make_pairs

__all__ = ["ContrastiveClassifier", "make_pairs"]
