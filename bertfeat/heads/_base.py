"""What both heads share: the network, parameter checks, training, pickling.

Training runs on the package's one loop (:mod:`bertfeat.training`), as fine-tuning
does: a float matrix as :class:`~bertfeat.training.data.ArrayData`, early stopping and
the history as callbacks. Subclasses only say how targets are checked and encoded
(``_targets``), which loss is used (``_loss_fn``) and how the network's output is read
back.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from bertfeat._device import resolve_device
from bertfeat._params import validate_params
from bertfeat._state import PickleStore, Stateful, sklearn_from_state, sklearn_state
from bertfeat.training.callbacks import CallbackParamsMixin, EarlyStopping, History, PrintLog, named_callbacks
from bertfeat.training.data import ArrayData, predict_array
from bertfeat.training.loop import LoopConfig, fit_loop

_ACTIVATIONS = {"relu": nn.functional.relu, "gelu": nn.functional.gelu, "tanh": torch.tanh}


class _MLP(nn.Module):
    """Linear -> activation -> dropout, repeated; then a linear output layer.

    Dropout draws its masks from the ``generator`` passed to ``forward`` so that
    training never reads or advances torch's global random state.
    """

    def __init__(self, n_in: int, hidden: tuple, activation: str, dropout: float, n_out: int):
        super().__init__()
        sizes = [n_in, *hidden]
        # Built on the meta device: nn.Linear's own init would consume the global RNG.
        self.hidden = nn.ModuleList(nn.Linear(a, b, device="meta") for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], n_out, device="meta")
        self.activation, self.dropout = activation, dropout

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default ``nn.Linear`` init, drawn from ``generator``."""
        for layer in [*self.hidden, self.out]:
            nn.init.kaiming_uniform_(layer.weight, a=5**0.5, generator=generator)
            bound = 1 / layer.in_features**0.5
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        act = _ACTIVATIONS[self.activation]
        for layer in self.hidden:
            x = act(layer(x))
            if self.training and self.dropout > 0:
                keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.dropout
                x = x * keep / (1 - self.dropout)
        return self.out(x)


def _to_cpu(obj):
    """Tensors (also inside dicts and lists) moved to the CPU, for pickling."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


class _MLPHead(Stateful, CallbackParamsMixin, BaseEstimator):
    """Parameters, network, training and pickling shared by both heads."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    def __init__(
        self,
        *,
        hidden_layer_sizes=(256,),
        activation="relu",
        dropout=0.1,
        learning_rate=1e-3,
        weight_decay=1e-4,
        batch_size=64,
        max_epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        patience=5,
        random_state=None,
        device="auto",
        verbose=0,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks

    # -- subclass hooks ---------------------------------------------------------------
    def _targets(self, y, *, reset: bool, classes=None) -> torch.Tensor:
        """Check ``y``, set the target attributes when ``reset``; return encoded targets."""
        raise NotImplementedError

    def _loss_fn(self, y: torch.Tensor, incremental: bool):
        """``loss(outputs, targets)`` on whatever device the outputs are."""
        raise NotImplementedError

    # -- checks -----------------------------------------------------------------------
    def _check_params(self) -> tuple[tuple[int, ...], torch.device]:
        """All parameter checks, once per ``fit``/``partial_fit`` call."""
        validate_params(self)
        named_callbacks(self.callbacks)
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}"
            )
        return tuple(int(s) for s in sizes), resolve_device(self.device)

    # -- training ---------------------------------------------------------------------
    def _validate(self, X, y, reset: bool):
        return validate_data(self, X, y, reset=reset, dtype=np.float32, **self._y_options)

    def _fit(self, X, y, *, incremental: bool, classes=None):
        hidden, device = self._check_params()
        first = not (incremental and hasattr(self, "module_"))
        X, y = self._validate(X, y, reset=first)
        y = self._targets(y, reset=first, classes=classes)
        loss_fn = self._loss_fn(y, incremental)
        X = torch.tensor(X, dtype=torch.float32)
        if first:
            self._seed = int(check_random_state(self.random_state).randint(2**31 - 1))
            self._arch = (X.shape[1], hidden, self.activation, float(self.dropout), self.n_outputs_)
            self.module_ = _MLP(*self._arch).to_empty(device="cpu")
            self.module_.reset_parameters(torch.Generator().manual_seed(self._seed))
            self._optimizer_state = None
            self.n_iter_, self.loss_curve_, self.validation_loss_curve_ = 0, [], []
            self.best_validation_loss_ = None
        module = self.module_.to(device)
        optimizer = torch.optim.AdamW(module.parameters())
        if self._optimizer_state is not None:
            optimizer.load_state_dict(self._optimizer_state)
        for group in optimizer.param_groups:
            group.update(lr=float(self.learning_rate), weight_decay=float(self.weight_decay))
        self._train(module, optimizer, loss_fn, X, y, device, incremental)
        self._optimizer_state = optimizer.state_dict()
        return self

    def _train(self, module, optimizer, loss_fn, X, y, device, incremental: bool) -> None:
        """``fit``: up to ``max_epochs`` epochs, with early stopping on held-out rows (the
        best weights restored); ``partial_fit``: one epoch. Epoch ``n`` (counted over the
        estimator's life) shuffles and draws dropout with ``seed + n``."""
        seed = self._seed + self.n_iter_
        eval_batch = max(int(self.batch_size), 1024)
        valid = stopper = None
        if self.early_stopping and not incremental:
            train_rows, valid_rows = (torch.as_tensor(rows) for rows in self._split(y.numpy()))
            train = ArrayData(X[train_rows], y[train_rows], seed, device, eval_batch)
            valid = ArrayData(X[valid_rows], y[valid_rows], seed, device, eval_batch)
            stopper = EarlyStopping("valid_loss", int(self.patience), lower_is_better=True)
        else:
            train = ArrayData(X, y, seed, device, eval_batch)
        history = History()
        callbacks = [c for c in (stopper, history) if c is not None]
        if self.verbose:
            callbacks.append(PrintLog())
        callbacks += [callback for _, callback in named_callbacks(self.callbacks)]
        epochs = 1 if incremental else int(self.max_epochs)
        config = LoopConfig(max_epochs=epochs, batch_size=int(self.batch_size), device=device)
        state = fit_loop(module, train, valid, loss_fn, config, optimizer, None, callbacks)
        self.n_iter_ += len(history.rows)
        self.loss_curve_ += [row["train_loss"] for row in history.rows]
        if valid is None:
            return
        self.validation_loss_curve_ += [row["valid_loss"] for row in history.rows]
        if stopper.best_epoch:
            self.best_validation_loss_ = float(stopper.best_score)
        if not state.stop:
            warnings.warn(
                f"{type(self).__name__}: max_epochs={self.max_epochs} reached before "
                f"early stopping (patience={self.patience}); consider more epochs.",
                ConvergenceWarning,
            )

    def _split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Held-out rows for early stopping: stratified when every class allows it."""
        n = len(y)
        if n < 2:
            raise ValueError(
                "early_stopping needs a validation split, impossible with n_samples=1; "
                "pass more rows or early_stopping=False"
            )
        rows = np.arange(n)
        stratify = y if self._stratify and np.bincount(y).min(initial=n) >= 2 else None
        try:
            return train_test_split(
                rows, test_size=self.validation_fraction, random_state=self._seed, stratify=stratify
            )
        except ValueError:  # too few rows to hold out one per class: plain split
            n_val = min(max(1, round(self.validation_fraction * n)), n - 1)
            return train_test_split(rows, test_size=n_val, random_state=self._seed)

    # -- prediction -------------------------------------------------------------------
    def _raw_output(self, X) -> np.ndarray:
        """The network's output on ``X`` (logits, or standardised predictions)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        device = resolve_device(self.device)
        module = self.module_.to(device)
        return predict_array(module, torch.tensor(X), device, max(self.batch_size, 1024)).float().cpu().numpy()

    # -- state: pickling and bertfeat.persist (bertfeat._state) ----------------------
    # The regressor standardises targets (_y_mean, _y_scale); the AdamW state lets
    # partial_fit continue after a round trip exactly as without one.
    _PRIVATE_STATE = ("_seed", "_arch", "_optimizer_state", "_y_mean", "_y_scale")

    def _persist_state(self, store=PickleStore) -> dict:
        """Parameters, fitted attributes, and the network as CPU tensors (a CUDA-fitted
        head loads anywhere)."""
        state = sklearn_state(self, self._PRIVATE_STATE, store)
        module = state["fitted"].pop("module_", None)
        if module is not None:
            state["fitted"]["_arch"] = list(self._arch)
            state["fitted"]["_optimizer_state"] = _to_cpu(self._optimizer_state)
        state["weights"] = _to_cpu(module.state_dict()) if module is not None else {}
        return state

    @classmethod
    def _from_persist_state(cls, state: dict, store=PickleStore):
        fitted = dict(state.get("fitted", {}))
        arch = fitted.pop("_arch", None)
        head = sklearn_from_state(cls, {"params": state.get("params", {}), "fitted": fitted}, cls._PRIVATE_STATE, store)
        if arch is not None:
            n_in, hidden, activation, dropout, n_out = arch
            head._arch = (int(n_in), tuple(int(h) for h in hidden), str(activation), float(dropout), int(n_out))
            head.module_ = _MLP(*head._arch).to_empty(device="cpu")
            head.module_.load_state_dict(state.get("weights", {}))
            head.__dict__.setdefault("_optimizer_state", None)
        return head

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        try:  # GPU kernels (atomic adds in backward) are not bit-reproducible
            tags.non_deterministic = resolve_device(self.device).type != "cpu"
        except (TypeError, ValueError):  # a bad device is reported by fit, not here
            pass
        return tags


_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Width of each hidden layer; ``(256,)`` is one hidden layer of 256 units,
        enough for a head on top of 384-1024 dimensional sentence embeddings.
        ``()`` gives a linear model (a linear probe).
    activation : {"relu", "gelu", "tanh"}, default="relu"
        Non-linearity after each hidden layer.
    dropout : float in [0, 1), default=0.1
        Dropout after each hidden layer during training.
    learning_rate : float > 0, default=1e-3
        AdamW step size.
    weight_decay : float >= 0, default=1e-4
        AdamW decoupled weight decay.
    batch_size : int, default=64
        Rows per optimisation step (prediction uses larger batches).
    max_epochs : int, default=100
        Upper bound on passes over the data in ``fit``.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows{split}, stop once the
        validation loss has not improved for ``patience`` epochs, and restore the
        weights of the best epoch. ``partial_fit`` never stops early.
    validation_fraction : float in (0, 1), default=0.1
        Share of the rows held out when ``early_stopping`` is on.
    patience : int, default=5
        Epochs without a new best validation loss before training stops.{extra}
    random_state : int, RandomState instance or None, default=None
        Seeds weight init, shuffling, dropout and the validation split through local
        generators (torch's global random state is left alone). An int makes CPU
        training reproducible.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"mps"``. Resolved again at every call, so a head fitted on a GPU predicts on
        a CPU-only machine after unpickling.
    verbose : int, default=0
        Print the training (and validation) loss of each epoch when > 0.
    callbacks : list of (str, Callback) pairs or Callback, or None, default=None
        Extra :class:`bertfeat.training.Callback` objects, run by the training loop
        after the built-in early stopping and history; a bare callback is named after
        its class. Their parameters are this estimator's ``callbacks__<name>__<param>``
        (``get_params``, ``set_params``, grid search), as in skorch.

    Attributes
    ----------
    n_features_in_ : int
        Number of input features seen at fit.
    feature_names_in_ : ndarray of str
        Column names, when fit was given a DataFrame with string column names.
    n_outputs_ : int
        Number of output units of the network.
    module_ : torch.nn.Module
        The trained network (its weights are pickled on the CPU).
    n_iter_ : int
        Epochs run so far (``fit`` restarts the count, ``partial_fit`` adds one).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_loss_curve_ : list of float
        Held-out loss after each epoch of ``fit`` (empty without early stopping).
    best_validation_loss_ : float or None
        Lowest held-out loss, whose weights were restored; None without early stopping.
"""


def _parameters_doc(split: str, extra: str) -> str:
    return _PARAMETERS.replace("{split}", split).replace("{extra}", extra)
