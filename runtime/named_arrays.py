"""The data of a model with several inputs or outputs: arrays under keys, all with one row per sample.

``NamedArrays`` is what ``runtime.data`` gives such a model for x and for y, in key order (the Input layers'
names; the output keys). Indexed by a key it gives that array (``x["image"]``); indexed by anything else
(an index array, a slice) it selects those rows of every array together (``x[order]``, ``x[i:i + 32]``),
so the loop, the split and the batching treat several arrays as one. ``len`` is the number of samples.
Backends read it only by key (a plain dict of arrays works as well). A model with one input and one
output keeps plain arrays.
"""

from __future__ import annotations

import numpy as np


class NamedArrays:
    """Arrays of equal length under keys (module docstring)."""

    __slots__ = ("arrays",)

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = dict(arrays)

    def __getitem__(self, index):
        if isinstance(index, str):
            return self.arrays[index]
        return NamedArrays({key: a[index] for key, a in self.arrays.items()})

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def astype(self, dtype) -> "NamedArrays":
        """Every float array in ``dtype`` (class indices stay integers)."""
        return NamedArrays({k: a.astype(dtype) if a.dtype.kind == "f" else a for k, a in self.arrays.items()})

    def keys(self):
        return self.arrays.keys()

    def values(self):
        return self.arrays.values()

    def items(self):
        return self.arrays.items()

    def __contains__(self, key) -> bool:
        return key in self.arrays

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {a.dtype}{list(a.shape)}" for k, a in self.arrays.items())
        return f"NamedArrays({{{inner}}})"


__all__ = ["NamedArrays"]
