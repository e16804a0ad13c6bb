"""Precision policies: what ``--dtype`` means, one definition for every backend.

A policy names the dtype the weights (and optimizer state) are kept in and the dtype the forward and
backward passes compute in (Keras' ``DTypePolicy`` names):

=================  =========  =========  ============
name               variables  compute    loss scaling
=================  =========  =========  ============
``float32``        float32    float32    no
``float64``        float64    float64    no
``mixed_bfloat16`` float32    bfloat16   no
``mixed_float16``  float32    float16    dynamic
=================  =========  =========  ============

Under a mixed policy the loss (and so the gradient's start) is computed in float32 from the compute
dtype's outputs, and the update is applied to the float32 master weights: Keras' ``mixed_*`` policies,
PyTorch's autocast with float32 parameters.

Dynamic loss scaling (``mixed_float16`` only; Keras 3's ``LossScaleOptimizer`` defaults):
the loss is multiplied by the scale S before the backward pass and every gradient divided by S after
it. A step whose scaled gradients have a NaN or ±inf element is *skipped* (no update, the optimizer's
iteration count unchanged) and S ← S·``BACKOFF``; after ``GROWTH_INTERVAL`` finite steps in a row
S ← S·``GROWTH``. A skipped step is an overflow of float16, not divergence: it is counted and
reported (``skipped_steps`` in the history and ``run.json``). Divergence under ``mixed_float16`` is a
non-finite (or beyond ``divergence.LOSS_LIMIT``) *loss*, or non-finite weights or optimizer state after
an update (``compiler.semantics.divergence`` rules 1 and 3).

A skipped step is not an optimizer iteration (Adam's bias corrections count the updates made), but the
learning-rate schedule follows the loop's step, skipped ones included. One difference is pinned: the torch
backend, which decides a skip on the device without the host waiting for it, takes Adam's ε correction
(``compiler.semantics.optimizers``: ε/√(1 − β₂ᵗ) as torch's ε) with t counting the steps *attempted*, so
that its bits do not depend on when the host reads the device; Keras counts the updates made. The two
differ only after a skipped step, in ε's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

INITIAL_SCALE = 2.0 ** 15  # keras.optimizers.LossScaleOptimizer(initial_scale=32768.0)
GROWTH = 2.0
BACKOFF = 0.5
GROWTH_INTERVAL = 2000  # LossScaleOptimizer(dynamic_growth_steps=2000)


@dataclass(frozen=True)
class Precision:
    name: str
    variables: str  # "float32" | "float64": weights, optimizer state, data, losses
    compute: str  # "float32" | "float64" | "bfloat16" | "float16"
    loss_scaling: bool

    @property
    def mixed(self) -> bool:
        return self.variables != self.compute


PRECISIONS: dict[str, Precision] = {
    "float32": Precision("float32", "float32", "float32", False),
    "float64": Precision("float64", "float64", "float64", False),
    "mixed_bfloat16": Precision("mixed_bfloat16", "float32", "bfloat16", False),
    "mixed_float16": Precision("mixed_float16", "float32", "float16", True),
}


def precision(name) -> Precision:
    """The policy called ``name`` (a ``Precision``, a name, or a NumPy float32/float64 dtype)."""
    if isinstance(name, Precision):
        return name
    key = name
    if not isinstance(name, str):
        import numpy as np

        try:
            key = np.dtype(name).name
        except TypeError:
            key = str(name)
    try:
        return PRECISIONS[key]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}: one of {', '.join(PRECISIONS)}") from None


@dataclass
class LossScale:
    """The dynamic loss scale's state and its update rule (see the module docstring), on plain floats;
    the torch backend runs the same rule on the device (``torch._amp_update_scale_``)."""

    scale: float = INITIAL_SCALE
    good_steps: int = 0

    def update(self, finite: bool) -> None:
        """After a step: finite gradients count towards growth; an overflow backs off and restarts the count."""
        if finite:
            self.good_steps += 1
            if self.good_steps == GROWTH_INTERVAL:
                self.scale, self.good_steps = self.scale * GROWTH, 0
        else:
            self.scale, self.good_steps = self.scale * BACKOFF, 0


def loss_scale_problem(scale: float, good_steps: int, skipped_steps: int, steps: int) -> tuple[str, str] | None:
    """Why a saved loss-scale state is one no run of ``steps`` steps can reach under ``LossScale``'s rule, as
    (state key, reason), or None. Reachable: ``scale`` a positive power of two (``INITIAL_SCALE`` halved or
    doubled, exact in float32), ``good_steps`` from 0 to ``GROWTH_INTERVAL`` − 1 (the count restarts at the
    growth), ``skipped_steps`` from 0 to ``steps``."""
    import math

    mantissa, _ = math.frexp(scale) if math.isfinite(scale) else (0.0, 0)
    if not (scale > 0 and mantissa == 0.5):
        return "loss_scale/scale", f"is {scale!r}: a loss scale is a positive power of two (2**15 halved or doubled)"
    if not 0 <= good_steps < GROWTH_INTERVAL:
        return "loss_scale/good_steps", (f"is {good_steps}: the finite steps since the scale last changed are 0 to "
                                         f"{GROWTH_INTERVAL - 1}")
    if not 0 <= skipped_steps <= steps:
        return "loss_scale/skipped_steps", (f"is {skipped_steps}: a run skips no fewer than 0 steps and no more than "
                                            f"the {steps} it has taken")
    return None
