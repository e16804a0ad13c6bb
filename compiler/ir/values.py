"""Value kinds used by layers: activations, initializers and regularizers.

Defaults follow Keras 3 where Keras has one (pinned here, not inherited).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, Literal, Union

from pydantic import Field

from compiler.ir.base import IRNode

RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu"})
GLOROT_FAMILY = frozenset({"linear", "tanh", "sigmoid", "softmax"})
SATURATING = frozenset({"tanh", "sigmoid"})

ActivationKind = Literal["linear", "relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "softmax"]
# Spellings accepted in a spec for the canonical kinds above.
ACTIVATION_ALIASES = {"none": "linear", "swish": "silu"}


class ActivationFn(IRNode):
    """An elementwise activation (softmax: over the last axis).

    linear: x · relu: max(0, x) · leaky_relu: x if x > 0 else alpha·x (alpha 0.2, as
    ``keras.activations.leaky_relu``) · elu: x if x > 0 else alpha·(eˣ − 1) (alpha 1.0) ·
    gelu: x·Φ(x) (exact erf form; ``approximate`` = tanh form) · silu (swish): x·σ(x) ·
    tanh · sigmoid: 1/(1 + e⁻ˣ) · softmax: eˣⁱ / Σⱼ eˣʲ.
    """

    kind: ActivationKind = "linear"
    alpha: float | None = None
    approximate: bool = False


# ---- initializers ------------------------------------------------------------
class Auto(IRNode):
    """Resolved by the compiler: He for ReLU-family activations, Glorot otherwise."""

    kind: Literal["auto"] = "auto"
    distribution: Literal["uniform", "normal"] = "uniform"


class ConstantInit(IRNode):
    """zeros: 0 · ones: 1 · constant(value): value."""

    kind: Literal["zeros", "ones", "constant"]
    value: float = 0.0


class RandomNormal(IRNode):
    """random_normal: N(mean, stddev²) · truncated_normal: N(mean, stddev²) redrawn outside ±2·stddev.

    Keras' defaults: mean 0, stddev 0.05.
    """

    kind: Literal["random_normal", "truncated_normal"]
    mean: float = 0.0
    stddev: Annotated[float, Field(gt=0)] = 0.05


class RandomUniform(IRNode):
    """random_uniform: U(minval, maxval); Keras' defaults −0.05, 0.05."""

    kind: Literal["random_uniform"] = "random_uniform"
    minval: float = -0.05
    maxval: float = 0.05


class VarianceScaling(IRNode):
    """Fan-scaled initializers, as Keras' ``VarianceScaling``:

    scale/fan: glorot = 1/((fan_in+fan_out)/2), he = 2/fan_in, lecun = 1/fan_in.
    uniform: U(−√(3·s), √(3·s)); normal: truncated N(0, s) with stddev √s / 0.87962566103423978.
    Fans of a conv kernel multiply by the receptive field (kh·kw).
    ``auto`` records that the compiler chose it for ``init=auto``.
    """

    kind: Literal["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
    auto: bool = False


class Orthogonal(IRNode):
    """A (semi-)orthogonal matrix times ``gain`` (Keras: QR of a normal matrix, sign-corrected)."""

    kind: Literal["orthogonal"] = "orthogonal"
    gain: float = 1.0


Initializer = Annotated[
    Union[Auto, ConstantInit, RandomNormal, RandomUniform, VarianceScaling, Orthogonal], Field(discriminator="kind")
]
INITIALIZER_KINDS = (
    "auto", "zeros", "ones", "constant", "random_normal", "truncated_normal", "random_uniform", "glorot_uniform",
    "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal",
)


# ---- regularizers --------------------------------------------------------------
class Regularizer(IRNode):
    """Penalty added to the loss, exactly as Keras: l1·Σ|w| + l2·Σw² (no ½).

    On activities Keras 3 divides the penalty by the batch size.
    Keras' defaults: l1(0.01), l2(0.01), l1l2(l1=0, l2=0).
    """

    kind: Literal["l1", "l2", "l1l2"]
    l1: Annotated[float, Field(ge=0)] = 0.0
    l2: Annotated[float, Field(ge=0)] = 0.0


REGULARIZER_KINDS = ("l1", "l2", "l1l2")
