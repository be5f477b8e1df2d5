"""What scikit-learn's declared parameter constraints cannot say on their own.

Every estimator declares ``_parameter_constraints`` and checks them with scikit-learn's
``_validate_params`` at ``fit``. One gap is filled here: an ``Interval(Integral, ...)``
accepts ``True`` and ``False`` (bool is an int subclass), which as a length or a count
is always a mistake.
"""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval


def validate_params(estimator) -> None:
    """scikit-learn's check of ``estimator._parameter_constraints``, then refuse a bool
    wherever the constraints ask for an integer (and not for a boolean)."""
    estimator._validate_params()
    for name, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, name)
        wants_int = any(isinstance(c, Interval) and c.type is Integral for c in constraints)
        wants_bool = "boolean" in constraints or "verbose" in constraints
        if isinstance(value, bool) and wants_int and not wants_bool:
            raise ValueError(
                f"The {name!r} parameter of {type(estimator).__name__} must be an integer, "
                f"not a bool. Got {value!r} instead."
            )
