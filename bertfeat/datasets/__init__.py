"""Small labelled data sets shipped with bertfeat, for the demo and for examples.

``support_intents.csv`` holds 240 customer-support messages in English, 60 for each of
four intents: ``billing``, ``shipping``, ``technical_issue`` and ``account_access``.
Every message was written by hand for this project (no text was copied from another
data set, web page or customer), so it ships with bertfeat under the project's MIT
license. Some messages sit near a boundary on purpose (a charge for a cancelled order,
an app that keeps signing the user out), so that a sentence-embedding model separates
the intents well but not perfectly.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np

DEMO_FILE = "support_intents.csv"
DEMO_LABELS = ("billing", "shipping", "technical_issue", "account_access")


def load_demo() -> tuple[list[str], np.ndarray]:
    """The demo data set: customer-support messages and their intent.

    Returns
    -------
    texts : list of str
        240 short messages (one or two sentences each).
    labels : ndarray of str, shape (240,)
        One of ``DEMO_LABELS``; 60 messages each, in file order (grouped by label,
        so shuffle or stratify before splitting).

    Examples
    --------
    >>> from bertfeat.datasets import load_demo
    >>> texts, labels = load_demo()
    >>> len(texts), sorted(set(labels.tolist()))
    (240, ['account_access', 'billing', 'shipping', 'technical_issue'])
    """
    raw = resources.files(__name__).joinpath(DEMO_FILE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    texts = [row["text"] for row in rows]
    labels = np.array([row["label"] for row in rows], dtype=str)
    return texts, labels


__all__ = ["DEMO_LABELS", "load_demo"]
