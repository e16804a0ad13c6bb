"""Dropout masks from one seeded generator, so that every backend can be fed the same masks.

keep = U[0, 1) ≥ rate, drawn from ``default_rng(SeedSequence([seed, step, crc32(layer)]))``:
a mask depends only on the seed, the optimizer step and the layer's name.
"""

from __future__ import annotations

import zlib

import numpy as np


def keep_mask(seed: int, step: int, layer: str, shape: tuple[int, ...], rate: float) -> np.ndarray:
    """A boolean mask of ``shape``: True where the unit is kept (probability 1 − rate)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, step, zlib.crc32(layer.encode())]))
    return rng.random(shape) >= rate
