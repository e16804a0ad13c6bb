"""Bilinear up-sampling by an integer factor, as TensorFlow's ``resize_bilinear`` with half-pixel centres
(Keras 3's ``UpSampling2D(interpolation="bilinear")`` on TensorFlow; torch's ``F.interpolate(mode="bilinear",
align_corners=False)``). One rule, used by the NumPy reference, the Keras backend's float64 adapter and the
emitted Keras program (TensorFlow's own resize rounds to float32 even in float64).

Along one axis of ``size`` pixels enlarged ``factor`` times, output pixel i samples the input at
t = max((i + ½)/factor − ½, 0), between pixels lo = ⌊t⌋ and hi = min(lo + 1, size − 1):
y[i] = (1 − a)·x[lo] + a·x[hi], a = t − lo. At the borders the sample is clamped to the edge pixel.
"""

from __future__ import annotations

import math


def bilinear_taps(size: int, factor: int) -> list[tuple[int, int, float]]:
    """(lo, hi, a) for each of the size·factor output pixels: y[i] = (1 − a)·x[lo] + a·x[hi]."""
    taps = []
    for i in range(size * factor):
        t = max((i + 0.5) / factor - 0.5, 0.0)
        lo = math.floor(t)
        taps.append((lo, min(lo + 1, size - 1), t - lo))
    return taps


def bilinear_matrix(size: int, factor: int, dtype=None):
    """The (size·factor, size) NumPy matrix A of ``bilinear_taps``: y = A·x along the axis."""
    import numpy as np  # here: importing the pinned semantics loads no numerical library

    a = np.zeros((size * factor, size), dtype=np.float64)
    for i, (lo, hi, w) in enumerate(bilinear_taps(size, factor)):
        a[i, lo] += 1.0 - w
        a[i, hi] += w
    return a if dtype is None else a.astype(dtype)
