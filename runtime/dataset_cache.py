"""Datasets kept in memory between the training runs of one process (the trials of ``nnspec search``).

Loading is deterministic (``runtime.data``): the arrays depend only on the data named (a bundled set, a
generator and its arguments, or a user's file), the train section's seed and validation split, the model's
input and output shapes, the loss and the dtype. ``cached_dataset`` returns the ``Dataset`` an earlier call
with the same key loaded — the same array objects, so no trainer may write into them (none does: the
backends read batches and copy them) — and loads it otherwise. A user's file enters the key by its resolved
path, size, modification time and inode, so a file changed between two runs is read anew; the data
budget as set (``NNSPEC_DATA_BUDGET``) is part of the key too, since it decides whether a load is refused.
At most ``MAX_KEPT`` datasets are kept, the most recently used.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from compiler.ir.training import FileData, NamedFileData
from compiler.semantics.outputs import heads
from runtime.data import DataError, Dataset, load_dataset, resolve_data
from runtime.input_files import BUDGET_VARIABLE

MAX_KEPT = 2
_kept: OrderedDict[tuple, Dataset] = OrderedDict()


def cached_dataset(spec, *, data=None, base_dir: Path = Path("."), dtype=np.float32) -> Dataset:
    """``runtime.data.load_dataset(spec, data=data, base_dir=base_dir, dtype=dtype)``, or the dataset an
    earlier call with the same key returned (module docstring). Raises ``DataError`` as ``load_dataset``
    does; a failed load is not kept."""
    key = _key(spec, data, base_dir, dtype)
    if key is not None and key in _kept:
        _kept.move_to_end(key)
        return _kept[key]
    dataset = load_dataset(spec, data=data, base_dir=base_dir, dtype=dtype)
    if key is not None:
        _kept[key] = dataset
        while len(_kept) > MAX_KEPT:
            _kept.popitem(last=False)
    return dataset


def clear() -> None:
    """Forget every kept dataset."""
    _kept.clear()


def _key(spec, data, base_dir: Path, dtype) -> tuple | None:
    """What the loaded arrays depend on, or None when it cannot be told (the data cannot be resolved, a file
    cannot be stat'ed): such a load is left to ``load_dataset`` and its errors."""
    training = spec.training
    source = data if data is not None else (training.data if training is not None else None)
    if source is None:
        return None
    try:
        source = resolve_data(source)
    except DataError:  # load_dataset raises it again, with its message
        return None
    described = json.dumps(source.model_dump(mode="json", exclude={"span"}), sort_keys=True)
    file_state = None
    if isinstance(source, (FileData, NamedFileData)):
        path = Path(source.path).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            stat = os.stat(path)
        except OSError:
            return None
        file_state = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    inputs = tuple((layer.name, tuple(layer.output_shape)) for layer in spec.input_layers)
    outputs = tuple((head.key, tuple(spec.layers[head.layer].output_shape), head.loss.kind) for head in heads(spec))
    return (described, file_state, os.environ.get(BUDGET_VARIABLE), training.seed, training.validation_split, inputs,
            outputs, np.dtype(dtype).str)
