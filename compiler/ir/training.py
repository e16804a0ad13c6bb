"""How a model is trained: loss, optimizer, schedule, clipping, batches, data.

Every default is Keras 3's, pinned here; each class's docstring states its formula.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, Literal, Union

from pydantic import Field

from compiler.ir.base import IRNode, SourceSpan

PositiveFloat = Annotated[float, Field(gt=0)]
UnitFloat = Annotated[float, Field(ge=0, lt=1)]


Metric = Literal["accuracy", "mse", "mae", "rmse"]


# ---- losses --------------------------------------------------------------------
class Loss(IRNode):
    """Mean over the batch of:

    mse: mean((y − ŷ)²) · mae: mean(|y − ŷ|) · binary_crossentropy: −[y·log p + (1−y)·log(1−p)] ·
    categorical_crossentropy: −Σ y·log p (one-hot y) · sparse_categorical_crossentropy: −log p[y].
    ``from_logits``: p = sigmoid/softmax(ŷ), computed stably (log-sum-exp); else ŷ are probabilities
    (clipped to [1e-7, 1 − 1e-7] as Keras does).
    """

    kind: Literal["mse", "mae", "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"]
    from_logits: bool = False
    span: SourceSpan | None = None

    @property
    def is_classification(self) -> bool:
        return self.kind.endswith("crossentropy")


LOSS_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae"}


# ---- several outputs: settings per output key (``loss = {digit: ..., ink: mse}``) ------------------
# The keys are the model's output keys (``Spec.output_key_names``: the NAME of each ``output NAME = ...``
# line). compiler.semantics.outputs reads these settings per output and checks their keys.
class OutputLoss(IRNode):
    """``key: loss`` in ``loss = {key: loss, ...}``: the loss of output ``key`` (``span``: the key)."""

    key: str
    loss: Loss
    span: SourceSpan | None = None


class OutputWeight(IRNode):
    """``key: weight`` in ``loss_weights = {key: weight, ...}``: the total loss is Σₖ wₖ·lossₖ (Keras)."""

    key: str
    weight: Annotated[float, Field(ge=0)]
    span: SourceSpan | None = None


class OutputMetrics(IRNode):
    """``key: [metric, ...]`` in ``metrics = {key: [...], ...}``: the metrics of output ``key``."""

    key: str
    metrics: tuple[Metric, ...]
    span: SourceSpan | None = None


def _empty(value) -> bool:
    return not value


# ---- optimizers ------------------------------------------------------------------
class OptimizerBase(IRNode):
    """What every optimizer has: its learning rate (the schedule's base) and where the spec set it."""

    learning_rate: PositiveFloat
    span: SourceSpan | None = None


class SGD(OptimizerBase):
    """v ← momentum·v − lr·g; w ← w + v (nesterov: w ← w + momentum·v − lr·g). Keras' form: the
    learning rate is applied when the velocity is updated, so a changing rate is exact."""

    kind: Literal["sgd"] = "sgd"
    learning_rate: PositiveFloat = 0.01
    momentum: UnitFloat = 0.0
    nesterov: bool = False
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


class Adam(OptimizerBase):
    """m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; α = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); w ← w − α·m/(√v + ε̂).

    Keras' form with ε̂ = ε (1e-7), i.e. ε is added to √v̂·√(1−β₂ᵗ), not to √v̂ as in PyTorch.
    """

    kind: Literal["adam"] = "adam"
    learning_rate: PositiveFloat = 0.001
    beta_1: UnitFloat = 0.9
    beta_2: UnitFloat = 0.999
    epsilon: PositiveFloat = 1e-7
    amsgrad: bool = False


class AdamW(OptimizerBase):
    """Adam with decoupled weight decay: w ← w − lr·wd·w before the Adam step (Keras' default wd 0.004)."""

    kind: Literal["adamw"] = "adamw"
    learning_rate: PositiveFloat = 0.001
    weight_decay: Annotated[float, Field(ge=0)] = 0.004
    beta_1: UnitFloat = 0.9
    beta_2: UnitFloat = 0.999
    epsilon: PositiveFloat = 1e-7
    amsgrad: bool = False


class RMSprop(OptimizerBase):
    """a ← ρa + (1−ρ)g²; (centered: m ← ρm + (1−ρ)g, a − m²); step = lr·g/√(a + ε);
    with momentum: v ← momentum·v + step, w ← w − v; else w ← w − step. Keras' defaults ρ 0.9, ε 1e-7."""

    kind: Literal["rmsprop"] = "rmsprop"
    learning_rate: PositiveFloat = 0.001
    rho: UnitFloat = 0.9
    momentum: UnitFloat = 0.0
    epsilon: PositiveFloat = 1e-7
    centered: bool = False


class Adagrad(OptimizerBase):
    """a ← a + g²; w ← w − lr·g/√(a + ε), with a starting at ``initial_accumulator_value`` (Keras: 0.1)."""

    kind: Literal["adagrad"] = "adagrad"
    learning_rate: PositiveFloat = 0.001
    initial_accumulator_value: Annotated[float, Field(ge=0)] = 0.1
    epsilon: PositiveFloat = 1e-7


Optimizer = Annotated[Union[SGD, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="kind")]
OPTIMIZER_CLASSES = {c.model_fields["kind"].default: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad)}

# Ranges in which a learning rate is ordinary for each optimizer (the lint warns outside them).
SANE_LEARNING_RATES = {
    "sgd": (1e-4, 1.0), "adam": (1e-5, 1e-2), "adamw": (1e-5, 1e-2), "rmsprop": (1e-5, 1e-2), "adagrad": (1e-4, 1.0),
}


# ---- learning-rate schedules ----------------------------------------------------------
# Each gives the factor on the optimizer's learning rate at optimizer step t (0-based).
class ConstantSchedule(IRNode):
    """factor(t) = 1."""

    kind: Literal["constant"] = "constant"


class StepSchedule(IRNode):
    """factor(t) = gamma^⌊t / step_size⌋ (PyTorch's StepLR, counted in steps)."""

    kind: Literal["step"] = "step"
    step_size: Annotated[int, Field(gt=0)]
    gamma: PositiveFloat = 0.1


class ExponentialSchedule(IRNode):
    """factor(t) = decay_rate^(t / decay_steps) (staircase: ⌊t / decay_steps⌋), Keras' ExponentialDecay."""

    kind: Literal["exponential"] = "exponential"
    decay_steps: Annotated[int, Field(gt=0)]
    decay_rate: PositiveFloat
    staircase: bool = False


class CosineSchedule(IRNode):
    """factor(t) = (1 − alpha)·½(1 + cos(π·min(t, decay_steps)/decay_steps)) + alpha (Keras' CosineDecay)."""

    kind: Literal["cosine"] = "cosine"
    decay_steps: Annotated[int, Field(gt=0)]
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0


class WarmupSchedule(IRNode):
    """Linear warmup, then another schedule: for t < steps,
    factor(t) = start + (1 − start)·t/steps; afterwards factor = then(t − steps)."""

    kind: Literal["warmup"] = "warmup"
    steps: Annotated[int, Field(gt=0)]
    start: Annotated[float, Field(ge=0, le=1)] = 0.0
    then: "Schedule" = ConstantSchedule.model_construct()  # a forward reference (recursive)


Schedule = Annotated[
    Union[ConstantSchedule, StepSchedule, ExponentialSchedule, CosineSchedule, WarmupSchedule],
    Field(discriminator="kind"),
]
SCHEDULE_CLASSES = {c.model_fields["kind"].default: c
                    for c in (ConstantSchedule, StepSchedule, ExponentialSchedule, CosineSchedule, WarmupSchedule)}


# ---- data ------------------------------------------------------------------------------
class BuiltinData(IRNode):
    """A data set that ships inside scikit-learn (nothing is downloaded)."""

    kind: Literal["builtin"] = "builtin"
    name: Literal["digits", "iris", "wine", "breast_cancer"]


class FileData(IRNode):
    """The user's own file: .npz with arrays ``x`` and ``y``, or .csv with a label column."""

    kind: Literal["file"] = "file"
    path: str
    label: str = "label"


class ArrayGroup(IRNode):
    """``key: "name"`` or ``key: ["c1", "c2"]`` in ``npz(..., x={...}, y={...})`` / ``csv(...)``: the model input
    or output ``key`` takes the npz array ``name`` (one), or the csv columns, in that order (one feature each).
    ``key`` "" (written ``x="images"``): the model's only input (output)."""

    key: str
    names: Annotated[tuple[str, ...], Field(min_length=1)]
    span: SourceSpan | None = None


class NamedFileData(IRNode):
    """The user's file with named arrays, one per model input and output: ``npz("f.npz", x={image: "images",
    meta: "meta"}, y={digit: "labels", ink: "ink"})`` or ``csv("f.csv", x={a: ["c1", "c2"], b: ["c3"]},
    y={digit: "label"})`` (runtime.data)."""

    kind: Literal["npz", "csv"]
    path: str
    x: tuple[ArrayGroup, ...]
    y: tuple[ArrayGroup, ...]


class TwoTasksData(IRNode):
    """Digits for a two-input, two-output model: inputs ``image`` (8×8×1, scikit-learn's digits, values 0..16)
    and ``meta`` (3 features: the ink — the mean pixel value / 16 —, the image's row and column centre of
    mass, each / 8, each plus noise·ε); outputs ``digit`` (the class, 0..9) and ``ink`` (the mean pixel
    value / 16, exact). Samples put in a random order (runtime.data)."""

    kind: Literal["two_tasks"] = "two_tasks"
    n_samples: Annotated[int, Field(gt=0, le=1797)] = 1797
    noise: Annotated[float, Field(ge=0)] = 0.05


class SpiralsData(IRNode):
    """``classes`` interleaved 2-D spirals with Gaussian noise: 2 features, ``classes`` classes."""

    kind: Literal["spirals"] = "spirals"
    n_samples: Annotated[int, Field(gt=0)] = 1000
    classes: Annotated[int, Field(gt=1)] = 3
    noise: Annotated[float, Field(ge=0)] = 0.1

    @property
    def features(self) -> int:
        return 2


class BlobsData(IRNode):
    """Gaussian blobs: one isotropic cluster (stddev ``noise``) per class in ``features`` dimensions."""

    kind: Literal["blobs"] = "blobs"
    n_samples: Annotated[int, Field(gt=0)] = 1000
    classes: Annotated[int, Field(gt=1)] = 3
    features: Annotated[int, Field(gt=0)] = 2
    noise: Annotated[float, Field(ge=0)] = 1.0


class RegressionData(IRNode):
    """A noisy linear target: y = x·w + noise·ε with x, w, ε standard normal; one output."""

    kind: Literal["regression"] = "regression"
    n_samples: Annotated[int, Field(gt=0)] = 1000
    features: Annotated[int, Field(gt=0)] = 8
    noise: Annotated[float, Field(ge=0)] = 0.1


class ShapesData(IRNode):
    """Coloured shapes to classify: ``size`` × ``size`` × ``channels`` images with values 0..255, one shape a
    class (disc, square, triangle, plus, ring, horizontal bars, vertical bars, diamond, diagonal cross,
    frame; beyond 10 classes the shapes repeat in other colour bands), at a random place, scale and colour on
    a random background, with integer noise of up to ±round(255·noise) levels (runtime/shape_images.py)."""

    kind: Literal["shapes"] = "shapes"
    n_samples: Annotated[int, Field(gt=0)] = 2000
    size: Annotated[int, Field(ge=8)] = 32
    channels: Annotated[int, Field(gt=0)] = 3
    classes: Annotated[int, Field(gt=1)] = 10
    noise: Annotated[float, Field(ge=0, le=1)] = 0.05

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    @property
    def features(self) -> int:
        return self.size * self.size * self.channels


class ShapeMasksData(IRNode):
    """The shapes of ``ShapesData`` to label pixel by pixel: the same images (``classes`` − 1 shape classes), and
    as the target of each image its mask, ``size`` × ``size`` labels: 0 the background, k + 1 a pixel of a shape
    of class k. ``classes`` counts the labels of a pixel, the background included (runtime/shape_images.py)."""

    kind: Literal["shape_masks"] = "shape_masks"
    n_samples: Annotated[int, Field(gt=0)] = 1000
    size: Annotated[int, Field(ge=8)] = 32
    channels: Annotated[int, Field(gt=0)] = 3
    classes: Annotated[int, Field(gt=1, le=256)] = 4
    noise: Annotated[float, Field(ge=0, le=1)] = 0.05

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    @property
    def features(self) -> int:
        return self.size * self.size * self.channels

    @property
    def target_shape(self) -> tuple[int, int]:
        """The labels of one sample: one per pixel."""
        return (self.size, self.size)


SYNTHETIC_CLASSES = {c.model_fields["kind"].default: c
                     for c in (SpiralsData, BlobsData, RegressionData, ShapesData, ShapeMasksData)}
NAMED_DATA_CLASSES = {"two_tasks": TwoTasksData}  # generated sets of named arrays (several inputs/outputs)
Data = Annotated[Union[BuiltinData, FileData, NamedFileData, SpiralsData, BlobsData, RegressionData, ShapesData,
                       ShapeMasksData, TwoTasksData],
                 Field(discriminator="kind")]
BUILTIN_DATASETS = {"digits": (64, 10), "iris": (4, 3), "wine": (13, 3), "breast_cancer": (30, 2)}


class EarlyStopping(IRNode):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs."""

    monitor: str = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 0
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = False




# ``loss``: one loss (for every output), or one per output key; ``metrics``: a list (one output: all apply
# to it; several: one entry per output, in order, as Keras 3 reads a list) or one list per output key.
LossSetting = Union[Loss, tuple[OutputLoss, ...]]
MetricsSetting = Union[tuple[Metric, ...], tuple[OutputMetrics, ...]]


class Training(IRNode):
    """The ``train { ... }`` section. Gradient clipping: ``clip_norm`` rescales all gradients together so
    their global L2 norm is at most clip_norm (PyTorch's clip_grad_norm_, Keras' global_clipnorm);
    ``clip_value`` clamps each gradient element to [−clip_value, clip_value].

    Several outputs (``compiler.semantics.outputs``): ``loss`` one Loss for every output or ``OutputLoss``
    per key, ``loss_weights`` wₖ per key (default 1), ``metrics`` per key; total loss = Σₖ wₖ·lossₖ +
    penalties, each lossₖ the mean over the batch, as Keras 3's CompileLoss. A one-output spec keeps
    one Loss and a list of metrics (its IR has no ``loss_weights`` field)."""

    loss: LossSetting
    optimizer: Optimizer
    schedule: Schedule = ConstantSchedule.model_construct()
    clip_norm: PositiveFloat | None = None
    clip_value: PositiveFloat | None = None
    batch_size: Annotated[int, Field(gt=0)] = 32
    epochs: Annotated[int, Field(gt=0)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    metrics: MetricsSetting = ()
    loss_weights: Annotated[tuple[OutputWeight, ...], Field(exclude_if=_empty)] = ()
    validation_split: UnitFloat = 0.0
    early_stopping: EarlyStopping | None = None
    data: Data | None = None
    span: SourceSpan | None = None


TRAINING_KEYS = tuple(f for f in Training.model_fields if f != "span")
