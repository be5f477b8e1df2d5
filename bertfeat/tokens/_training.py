"""What fine-tuning a token classifier adds to the training loop: the loss over
labelled sub-tokens and the validation scores read at each word."""

from __future__ import annotations

import numpy as np

from bertfeat.tokens._spans import entity_f1, parse_tag


def is_iob(classes) -> bool:
    """Whether every tag is an IOB tag, so that entity scores mean something."""
    try:
        for tag in classes:
            parse_tag(str(tag))
    except ValueError:
        return False
    return True


def token_loss(classes: np.ndarray, class_weight, train_codes: np.ndarray):
    """Cross-entropy over labelled sub-tokens (``-100`` elsewhere), optionally class-weighted.

    Logits are ``(rows, tokens, tags)``; targets ``(rows, longest)`` are cut to the
    logits' width (dynamic padding makes a batch narrower than the longest window).
    """
    import torch
    import torch.nn.functional as F
    from sklearn.utils.class_weight import compute_class_weight

    weight = None
    if class_weight is not None:
        values = np.ones(len(classes))  # a tag seen only in the validation part is never a target
        if isinstance(class_weight, dict):
            unknown = set(class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(f"class_weight names tags not in y: {sorted(map(repr, unknown))}")
            for i, tag in enumerate(classes.tolist()):
                values[i] = float(class_weight.get(tag, 1.0))
        else:
            present = np.unique(train_codes)
            values[present] = compute_class_weight("balanced", classes=present, y=train_codes)
        weight = torch.tensor(values, dtype=torch.float32)

    def loss(logits, targets):
        targets = targets[:, : logits.shape[1]].reshape(-1).to(logits.device)
        logits = logits.reshape(-1, logits.shape[-1])
        labelled = targets != -100
        w = None if weight is None else weight.to(logits.device)
        per_token = F.cross_entropy(logits, targets, weight=w, ignore_index=-100, reduction="none")
        # Mean over labelled sub-tokens (weighted like torch's "mean"); 0 for a batch without any.
        denominator = labelled.sum() if w is None else w[targets[labelled]].sum()
        return per_token.sum() / denominator.clamp(min=1e-12)

    return loss


def _word_codes(windows, logits, targets):
    """(true, predicted) tag codes of every word, read where each word is read."""
    rows, cols = windows.window, windows.position
    return targets[rows, cols].numpy(), logits[rows, cols].argmax(-1).numpy()


def word_scorers(classes: np.ndarray, windows) -> dict:
    """Validation scores on ``(logits, targets)`` of the windows ``windows``: word
    accuracy, and entity micro F1 when the tags are IOB tags."""

    def accuracy(logits, targets):
        true, pred = _word_codes(windows, logits, targets)
        return float(np.mean(true == pred))

    def entity(logits, targets):
        true, pred = (classes[c] for c in _word_codes(windows, logits, targets))
        return entity_f1([list(t) for t in windows.split(true)], [list(p) for p in windows.split(pred)])

    return {"accuracy": accuracy, "entity_f1": entity} if is_iob(classes) else {"accuracy": accuracy}
