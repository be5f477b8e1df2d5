"""The model store: every model bertfeat uses is resolved, fingerprinted and loaded here.

=================  ===========================================================
room               job
=================  ===========================================================
``files``          the one list of model files; folder checks; damaged weights
``resolve``        ``model=`` to a folder: path, Hub id (model files only),
                   None for the embedded all-MiniLM-L6-v2
``digest``         fingerprints of files and of in-memory weights (memoised)
``load``           tokenizer + module for any head class, with the weight checks
``registry``       inference models shared in a process; lifetime and
                   :func:`free_models`
``copies``         model files inside a pickle (``store_weights=True``)
=================  ===========================================================

Importing the store imports neither torch nor transformers; loading does.
"""

from bertfeat._store.copies import models_home, read_model_files, restore_model_files
from bertfeat._store.digest import file_sha256, fingerprint, fingerprint_or_none, weights_fingerprint
from bertfeat._store.files import CONFIG_FILE, TOKENIZER_FILES, WEIGHT_FILES, check_model_folder, model_files
from bertfeat._store.load import (
    HEADS,
    check_encoder_config,
    config_info,
    load_module,
    load_tokenizer,
    max_length,
    model_info,
    quiet_transformers,
    read_config,
)
from bertfeat._store.registry import LoadedModel, free_models, from_module, load_model, store_stats
from bertfeat._store.resolve import DEFAULT_MODEL, default_model_path, resolve_model_path

__all__ = [
    "CONFIG_FILE", "DEFAULT_MODEL", "HEADS", "LoadedModel", "TOKENIZER_FILES", "WEIGHT_FILES",
    "check_encoder_config", "check_model_folder", "config_info", "default_model_path", "file_sha256",
    "fingerprint", "fingerprint_or_none", "free_models", "from_module", "load_model", "load_module",
    "load_tokenizer", "max_length", "model_files", "model_info", "models_home", "quiet_transformers",
    "read_config", "read_model_files", "resolve_model_path", "restore_model_files", "store_stats",
    "weights_fingerprint",
]
