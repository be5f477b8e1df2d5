"""Save and load fitted pipelines without pickle: settings as JSON, arrays as safetensors.

``pickle``/``joblib`` run code while loading, so a model file from elsewhere is a program
you execute. :func:`load` reads only data: a JSON manifest and one safetensors file, and
it builds nothing but the types registered here. Unknown types, unknown parameters,
places on disk or code hooks in the file, links leading out of the folder, damaged or
modified array and model files are refused with an error naming them.

Folder layout (format ``bertfeat.persist``, version 1)::

    folder/
      bertfeat.json        what to build: types, parameters, fitted attributes, digests
      arrays.safetensors   every numpy array and torch tensor, by name
      models/<fp>/         model files (config, safetensors weights, tokenizer): an
                           encoder saved with it, a fine-tuned model; checked against
                           the fingerprint recorded at save

Rooms: ``_registry`` (the types load may build), ``_codec`` (values to JSON + arrays),
``_folder`` (the folder: atomic save, checked load). Each estimator writes and reads its
own state (:mod:`bertfeat._state`), the same state its pickle holds.

Example
-------
>>> from bertfeat import persist                          # doctest: +SKIP
>>> persist.save(pipe, "sentiment-model")                 # doctest: +SKIP
>>> pipe = persist.load("sentiment-model", cache_dir="~/.cache/vectors")  # doctest: +SKIP

A head type makes itself persistable with :func:`register`, giving two functions::

    register(MyHead, to_state, from_state)
    # to_state(est) -> dict of JSON values, numpy arrays, torch tensors and nested
    #                  registered estimators (any depth);
    # from_state(state) -> a fitted estimator, from that dict as it was saved.

scikit-learn style estimators whose fitted state is their public ``*_`` attributes need
only :func:`register_sklearn`.
"""

from __future__ import annotations

from bertfeat.persist._codec import ARRAYS, MANIFEST, Reader, Writer
from bertfeat.persist._folder import (
    FORMAT,
    MAX_HEADER_BYTES,
    MAX_MANIFEST_BYTES,
    MODELS,
    VERSION,
    load,
    save,
)
from bertfeat.persist._registry import register, register_sklearn, registered_types, type_name

__all__ = ["save", "load", "register", "register_sklearn", "registered_types", "type_name"]
