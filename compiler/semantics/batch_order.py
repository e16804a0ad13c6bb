"""Batch order, the same in every backend: each epoch a permutation of the ``n`` samples from
``default_rng(SeedSequence([seed, 1, epoch]))``, cut into batches of ``batch_size`` in that order, the
last one partial (as Keras' ``fit(shuffle=True)`` does, with its own generator)."""

from __future__ import annotations

import numpy as np


def batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng(np.random.SeedSequence([seed, 1, epoch])).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
