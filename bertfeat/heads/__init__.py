"""Small torch MLPs as scikit-learn estimators, to put after a feature extractor.

``_base`` holds what the two heads share (network, parameter checks, epoch loop,
early stopping, pickling); ``_classifier`` and ``_regressor`` hold only what differs.
"""

from bertfeat.heads._classifier import MLPHeadClassifier
from bertfeat.heads._regressor import MLPHeadRegressor

__all__ = ["MLPHeadClassifier", "MLPHeadRegressor"]

# Pickles (and reprs) name the public path, so moving code between the private
# modules does not break models saved earlier.
for _cls in (MLPHeadClassifier, MLPHeadRegressor):
    _cls.__module__ = __name__
del _cls
