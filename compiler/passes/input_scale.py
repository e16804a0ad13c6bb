"""The ``unscaled-inputs`` rule: input features far from unit scale, fed to a model that does not scale them.

A feature is one index along the input's last axis (a column of (N, features) data, a channel of images),
its statistics taken over every sample and position. The inputs are *unscaled* when

- a feature's mean is beyond ±10 (``max |mean| > MEAN_LIMIT``), or
- a feature's standard deviation is above 10 (``max std > STD_LIMIT``), or
- the standard deviations of the features differ more than 100-fold (``max std / min std > SPREAD_LIMIT``,
  constant features left out),

and the model does not scale them itself: no Normalization, Rescaling or BatchNormalization before its
first Dense or Conv2D. breast_cancer (stds 0.0026 to 569, means up to 881), wine (proline in the
hundreds) and digits' raw pixels (means up to 12) are unscaled; iris (means up to 5.8 cm, stds 0.43 to
1.76), spirals, blobs with their default noise and regression are not; shapes' pixels (0..255) are.

Where the statistics come from: bundled sets from ``BUILTIN_SCALES`` (measured once on scikit-learn's
copies; tests/test_input_scale.py measures them again), generated sets from their definitions
(``expected_scale``), so that ``nnspec check`` loads no data and imports nothing heavy; a user's file at
train time, from the training split (``FeatureScale.of``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.ir.spec import Spec
from compiler.ir.training import BlobsData, BuiltinData, RegressionData, ShapeMasksData, ShapesData, SpiralsData

MEAN_LIMIT = 10.0
STD_LIMIT = 10.0
SPREAD_LIMIT = 100.0
HINT = ("add Normalization() right after Input: it learns each feature's mean and variance from the training "
        "data; or Rescaling(...) for values of a known range (pixels 0..255: Rescaling(1 / 255))")


@dataclass(frozen=True)
class FeatureScale:
    """The largest |mean| and standard deviation over the features, and the smallest non-zero deviation."""

    max_abs_mean: float
    max_std: float
    min_std: float  # over features that are not constant; 0 when all are

    @classmethod
    def of(cls, x) -> FeatureScale:
        """Measured on ``x`` (samples first; features along the last axis), in float64."""
        import numpy as np

        values = np.asarray(x, dtype=np.float64)
        values = values.reshape(-1, values.shape[-1] if values.ndim > 1 else 1)
        means, stds = values.mean(axis=0), values.std(axis=0)
        varying = stds[stds > 0]
        return cls(float(np.abs(means).max()), float(stds.max()), float(varying.min()) if varying.size else 0.0)

    def problem(self) -> str | None:
        """What makes these features unscaled (the module's rule), or None when they are not."""
        parts = []
        if self.max_std > STD_LIMIT:
            parts.append(f"standard deviations up to {self.max_std:.3g}")
        if self.max_abs_mean > MEAN_LIMIT:
            parts.append(f"means up to {self.max_abs_mean:.3g}")
        if self.min_std > 0 and self.max_std / self.min_std > SPREAD_LIMIT:
            ratio = self.max_std / self.min_std
            parts.append(f"scales {ratio:,.0f}x apart ({self.min_std:.2g} to {self.max_std:.3g})")
        return ", ".join(parts) or None


# Per feature of scikit-learn's arrays, and (``pooled``) all values as one feature, for an image-shaped input.
BUILTIN_SCALES: dict[str, tuple[FeatureScale, FeatureScale]] = {
    "digits": (FeatureScale(12.089037284362828, 6.536135288407675, 0.023583327880263644),
               FeatureScale(4.884164579855314, 6.016787548672236, 6.016787548672236)),
    "iris": (FeatureScale(5.843333333333335, 1.7594040657753032, 0.43441096773549437),
             FeatureScale(3.4644999999999997, 1.9738430577598278, 1.9738430577598278)),
    "wine": (FeatureScale(746.8932584269663, 314.0216568419877, 0.12410325988364797),
             FeatureScale(69.13366292091617, 215.74620420485243, 215.74620420485243)),
    "breast_cancer": (FeatureScale(880.5831282952545, 568.8564589532672, 0.0026437447504047366),
                      FeatureScale(61.890712339519624, 228.29740508276657, 228.29740508276657)),
}


def expected_scale(spec: Spec) -> FeatureScale | None:
    """The feature scale of the spec's bundled or generated data (None for a file, or no data).

    Generated sets by their definitions (runtime/data.py): spirals' coordinates have mean 0 and variance
    1/6 + noise² (r = t uniform on (0, 1) around the circle); blobs' centres are uniform on [−10, 10], so a
    feature's expected variance is (K − 1)/K · 400/12 + noise² about a mean near 0; regression's x is
    standard normal; a shapes image's values are uniform on the 256 levels 0..255 (the shape's colour f is,
    in every channel, and so is the background's (f + d) mod 256; for up to 10 classes, beyond which the
    colours come in bands), mean 127.5 and variance (256² − 1)/12, before noise (left out here: clipped at
    0 and 255, it changes no verdict).
    """
    data = spec.training.data if spec.training is not None else None
    if isinstance(data, BuiltinData):
        features, pooled = BUILTIN_SCALES[data.name]
        return features if len(spec.input_shape) == 1 else pooled
    if isinstance(data, SpiralsData):
        std = math.hypot(math.sqrt(1 / 6), data.noise)  # hypot: no overflow for a huge noise
    elif isinstance(data, BlobsData):
        std = math.hypot(math.sqrt((data.classes - 1) / data.classes * 400 / 12), data.noise)
    elif isinstance(data, RegressionData):
        std = 1.0
    elif isinstance(data, (ShapesData, ShapeMasksData)):  # shape masks: the same images
        std = math.sqrt((256 ** 2 - 1) / 12)
        return FeatureScale(127.5, std, std)
    else:
        return None
    return FeatureScale(0.0, std, std)


def scales_inputs(spec: Spec) -> bool:
    """True when a layer that ``scales_inputs`` (Normalization, Rescaling, BatchNormalization) comes before the
    first layer with a kernel (Dense, Conv2D)."""
    for layer in spec.layers:
        if layer.scales_inputs:
            return True
        if layer.has_kernel:
            return False
    return False


def unscaled_message(spec: Spec, scale: FeatureScale | None, data: str) -> str | None:
    """The ``unscaled-inputs`` warning's message for ``spec`` trained on ``data`` of feature scale ``scale``
    (None: nothing to warn about). The warning itself is made by ``compiler.passes.lint.unscaled_inputs_warning``."""
    problem = scale.problem() if scale is not None else None
    if problem is None or scales_inputs(spec):
        return None
    return (f"the input features of {data} are far from unit scale ({problem}) and the model does not scale "
            "them: training will be slow or unstable")
