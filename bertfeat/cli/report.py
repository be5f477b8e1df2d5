"""The evaluation report of ``bertfeat evaluate`` (and the demo): figures a person can trust.

Accuracy and macro-F1 beside the majority-class and stratified-random baselines, per-class
precision and recall under the label names, the confusion matrix, UMAP panels of the test
features and the highest-loss examples; written as ``report.json``,
``classification_report.txt``, ``worst_and_best_examples.csv``, two pictures and one page
that shows them together, ``report.html``. The texts are encoded once: the same features
give the predictions, the probabilities (losses) and the UMAP panels.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from bertfeat.cli.readers import plain
from bertfeat.vectorizer import BertVectorizer
from bertfeat.viz import confusion_matrix_plot, error_table, per_example_loss, umap_panels

CONFUSION_PNG = "confusion_matrix.png"
UMAP_PNG = "umap_panels.png"
EXAMPLES_CSV = "worst_and_best_examples.csv"


def _predictions(estimator, X, say):
    """Features (None for a fine-tuned model), probabilities and predicted labels, from one encoding."""
    steps = getattr(estimator, "steps", None)
    classes = np.asarray(estimator.classes_)
    if steps and isinstance(steps[0][1], BertVectorizer):
        say(f"encoding {len(X)} rows")
        features = steps[0][1].transform(X)
        head = estimator[1:]
        proba = head.predict_proba(features)
        return features, proba, head.predict(features)
    say(f"predicting {len(X)} rows with the fine-tuned model")
    proba = estimator.predict_proba(X)
    return None, proba, classes[np.argmax(proba, axis=1)]


def _scores(y, predicted) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(y, predicted)), "f1_macro": float(f1_score(y, predicted, average="macro", zero_division=0))}


def baselines(y, classes, train_labels) -> dict:
    """Majority-class and stratified-random (seed 0) DummyClassifier scores on ``y``.

    Both learn the class frequencies of the training labels when known (``train_labels``),
    else of ``y`` itself (then the majority baseline is the best constant guess on ``y``).
    """
    from sklearn.dummy import DummyClassifier

    fitted_on = "training labels" if train_labels is not None and len(train_labels) else "evaluation labels"
    source = np.asarray(train_labels) if fitted_on == "training labels" else np.asarray(y)
    result = {"fitted_on": fitted_on}
    for strategy, name in (("most_frequent", "majority"), ("stratified", "stratified")):
        dummy = DummyClassifier(strategy=strategy, random_state=0).fit(np.zeros((len(source), 1)), source)
        predicted = dummy.predict(np.zeros((len(y), 1)))
        result[name] = _scores(y, predicted)
        if strategy == "most_frequent":
            result[name]["always"] = plain(predicted[0]) if len(predicted) else None
    return result


def _names(classes, label_names) -> dict:
    names = {plain(c): str(plain(c)) for c in classes}
    for label, name in (label_names or {}).items():
        names[plain(label)] = str(name)
    return names


def write_report(estimator, X, y, out: Path, *, train_labels=None, pictures: bool = True, label_names=None,
                 worst: int = 10, title: str = "bertfeat evaluation", say=lambda message: None) -> dict:
    """Score ``estimator`` on ``(X, y)`` and write the report files into ``out``; returns report.json's dict."""
    from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

    out = Path(out)
    y = np.asarray(y)
    classes = np.asarray(estimator.classes_)
    names = _names(classes, label_names)
    features, proba, predicted = _predictions(estimator, X, say)
    report = {"title": title, "n": int(len(y)), **_scores(y, predicted)}
    report["baselines"] = baselines(y, classes, train_labels)
    majority = report["baselines"]["majority"]
    majority["always_name"] = names.get(majority["always"], str(majority["always"]))
    report["beats_majority"] = bool(report["accuracy"] > majority["accuracy"])
    report["warning"] = None if report["beats_majority"] else (
        f"the model does not beat the majority-class baseline: accuracy {report['accuracy']:.3f} against "
        f"{majority['accuracy']:.3f} for always answering {majority['always_name']!r}")
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
    report["per_class"] = [
        {"label": plain(c), "name": names[plain(c)], "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    ]
    report["confusion_matrix"] = {"labels": [names[plain(c)] for c in classes],
                                  "counts": confusion_matrix(y, predicted, labels=classes).tolist()}
    (out / "classification_report.txt").write_text(classification_report(
        y, predicted, labels=classes, target_names=[names[plain(c)] for c in classes], zero_division=0))
    loss = per_example_loss(proba, y=y, classes=classes)
    report["mean_loss"] = float(np.mean(loss))
    texts = [f"{x[0]} ||| {x[1]}" if isinstance(x, tuple) else x for x in X]
    table = error_table(texts, y, predicted, loss, label_names=names, n=min(worst, len(y)))
    table.to_csv(out / EXAMPLES_CSV, index=False)
    report["pictures"] = []
    if pictures:
        say("drawing the confusion matrix")
        confusion_matrix_plot(y, predicted, labels=classes, label_names=names, path=out / CONFUSION_PNG,
                              title="Normalized confusion matrix (rows: true labels)")
        report["pictures"].append(CONFUSION_PNG)
        if features is not None:
            say(f"drawing UMAP panels of {len(features)} test vectors")
            umap_panels(features, y, label_names=names, path=out / UMAP_PNG,
                        title="UMAP of the test features, one panel per true label")
            report["pictures"].append(UMAP_PNG)
        else:
            report["umap_skipped"] = "a fine-tuned model has no separate features; its vectors would need a second pass"
    (out / "report.html").write_text(_html(report, table[table["group"] == "highest"]), encoding="utf-8")
    return report


def _html(report: dict, highest) -> str:
    """One page: scores beside baselines, the warning, per-class table, pictures, worst examples."""
    esc = html.escape
    base = report["baselines"]
    rows = [("model", report["accuracy"], report["f1_macro"]),
            (f"majority class (always {esc(base['majority']['always_name'])})", base["majority"]["accuracy"], base["majority"]["f1_macro"]),
            ("stratified random (seed 0)", base["stratified"]["accuracy"], base["stratified"]["f1_macro"])]
    scores = "".join(f"<tr><td>{name}</td><td>{acc:.3f}</td><td>{f1:.3f}</td></tr>" for name, acc, f1 in rows)
    per_class = "".join(
        f"<tr><td>{esc(c['name'])}</td><td>{c['precision']:.3f}</td><td>{c['recall']:.3f}</td><td>{c['f1']:.3f}</td>"
        f"<td>{c['support']}</td></tr>" for c in report["per_class"])
    verdict = (f'<p class="warn"><b>Warning:</b> {esc(report["warning"])}.</p>' if report["warning"]
               else '<p class="ok">The model beats the majority-class baseline.</p>')
    pictures = "".join(f'<figure><img src="{p}" alt="{p}"></figure>' for p in report["pictures"])
    if report.get("umap_skipped"):
        pictures += f"<p>UMAP panels skipped: {esc(report['umap_skipped'])}.</p>"
    examples = highest[["text", "label", "predicted", "loss"]].to_html(index=False, float_format=lambda v: f"{v:.3f}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{esc(report['title'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}}.warn{{color:#a00}}.ok{{color:#070}}img{{max-width:100%}}</style>
</head><body>
<h1>{esc(report['title'])}</h1>
<p>{report['n']} rows. Baselines are scikit-learn DummyClassifiers fitted on the {base['fitted_on']}.</p>
<h2>Scores</h2>
<table><tr><th></th><th>accuracy</th><th>macro-F1</th></tr>{scores}</table>
{verdict}
<h2>Per class</h2>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
<h2>Pictures</h2>
{pictures or '<p>No pictures (--no-pictures).</p>'}
<h2>Highest-loss examples</h2>
<p>Where the model is most confidently wrong: often mislabelled or ambiguous rows. Loss is -log p(true label).</p>
{examples}
</body></html>
"""
