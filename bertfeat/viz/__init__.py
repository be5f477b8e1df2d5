"""Pictures and tables for looking at features and classifiers.

Every picture function returns a :class:`Plot`, a named tuple ``(figure, data)``: the
matplotlib ``Figure`` and the numbers drawn in it, so ``fig, data = umap_panels(...)``
works as well as ``result.figure`` / ``result.data``. Tables are plain pandas
``DataFrame`` objects. Figures are built with ``matplotlib.figure.Figure`` directly (no
pyplot, no ``show``): they work headless and hold no global state. Pass ``path=`` to save
one; in a notebook a ``Plot`` displays itself.

matplotlib, umap-learn and pandas come with the ``viz`` extra
(``pip install "bertfeat[viz]"``); they are imported inside the functions, so
``import bertfeat.viz`` stays light.
"""

from bertfeat.viz._attention import AttentionData, attention_heatmap
from bertfeat.viz._classifier import confusion_matrix_plot, error_table, per_example_loss
from bertfeat.viz._common import INSTALL_HINT, Plot
from bertfeat.viz._embedding import umap_embed, umap_panels, umap_scatter

__all__ = [
    "INSTALL_HINT",
    "AttentionData",
    "Plot",
    "attention_heatmap",
    "confusion_matrix_plot",
    "error_table",
    "per_example_loss",
    "umap_embed",
    "umap_panels",
    "umap_scatter",
]
