"""What every layer kind shares: its name, span, inferred shapes and parameter counts, and the facts about
itself that the passes, lints, tools and backends ask instead of testing its kind's name.

Every fact has a default that is safe for a new kind (it blocks auto-init's look-ahead, stops a Normalization
from adapting after it, ...); a kind sets the facts that are true of it in its class body."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar

from compiler.ir.base import IRNode, Shape, SourceSpan
from compiler.ir.names import LayerName
from compiler.ir.values import ActivationFn
from compiler.ir.layers.weight import LayerWeight

# Fields filled by the compiler, not arguments a spec may pass.
BOOKKEEPING = frozenset({"kind", "span", "inputs", "input_shape", "input_shapes", "output_shape", "trainable_params",
                         "non_trainable_params"})


class ShapeError(Exception):
    """A layer cannot take the shape it is given; ``message`` is shown at the layer's span."""


class LayerBase(IRNode):
    """A layer: ``kind`` is the discriminator; shapes and counts exclude the batch axis.

    A model is a directed acyclic graph of layers: ``inputs`` names the layers whose outputs this one takes,
    in order (none for an Input; one for every other kind but the merge layers, which take two or more).
    ``Spec.layers`` lists the layers in an order where every layer comes after its inputs."""

    kind: str
    name: LayerName = ""  # "" until the compiler names it; the rule: compiler.ir.names
    span: SourceSpan
    inputs: tuple[LayerName, ...] = ()
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    trainable_params: int = 0
    non_trainable_params: int = 0

    positional: ClassVar[tuple[str, ...]] = ()  # arguments that may be given by position, in order
    snake_name: ClassVar[str] = ""  # Keras' automatic layer name stem ("conv2d", "batch_normalization")

    # ---- facts about the kind (class attributes: the same for every layer of the kind) --------------------
    # y = activation(x·W + b) or its convolution: a kernel that auto-init chooses for the activation that
    # follows, counted by the saturating-depth lint and by diagnose as a hidden layer; its activation is a
    # step of its own after the linear part (where a final softmax/sigmoid fuses with the loss).
    has_kernel: ClassVar[bool] = False
    # y = activation(x) and nothing else: auto-init and the lints take its activation as the one that
    # follows the layer before it.
    is_activation: ClassVar[bool] = False
    # auto-init looks through it for the activation that follows a kernel (normalization, pooling, Flatten,
    # dropout: no nonlinearity of its own that a kernel's initialization should suit).
    transparent: ClassVar[bool] = False
    # standardises every training batch by that batch's own statistics (BatchNormalization): a stack of
    # saturating layers is broken there, dropout just before it shifts the statistics it sees, a bias just
    # before it is cancelled.
    normalizes_batch: ClassVar[bool] = False
    # brings its input to a known scale (Normalization, Rescaling, BatchNormalization): before the first
    # kernel, the unscaled-inputs lint and diagnose do not ask for one.
    scales_inputs: ClassVar[bool] = False
    # draws a random mask in training (dropout): the data after it differs between training and inference.
    random: ClassVar[bool] = False
    # no weights, no randomness and the same in training and inference: an adapting Normalization may come
    # after it, since the data reaching the Normalization is known before training.
    adapts_through: ClassVar[bool] = False
    # the model's input (diagnose takes its variance as the reference, not as a layer's output).
    is_input: ClassVar[bool] = False
    # takes several inputs and combines them (Add, Concatenate, ...: compiler/ir/layers/merge.py); its shape
    # rule is ``infer_merge_shape`` over every input's shape. Every other kind takes exactly one input.
    is_merge: ClassVar[bool] = False
    # a constant added per channel to its input comes out as the same constant per channel of its output
    # (cropping, max and average pooling — TensorFlow's pool only real pixels — and the global poolings): a
    # bias before it still reaches the normalization after it, which cancels it (bias-before-batchnorm).
    passes_channel_offsets: ClassVar[bool] = False

    @classmethod
    def argument_names(cls) -> list[str]:
        return [f for f in cls.model_fields if f not in BOOKKEEPING]

    def infer_shape(self, shape: Shape) -> Shape:
        """The output shape for input ``shape``; raises ``ShapeError`` when it does not fit."""
        return shape

    def count_params(self, shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) parameters for input ``shape``: the sizes of ``weights(shape)``."""
        trainable = non_trainable = 0
        for w in self.weights(shape):
            n = 1
            for d in w.shape:
                n *= d
            if w.trainable:
                trainable += n
            else:
                non_trainable += n
        return trainable, non_trainable

    def weights(self, shape: Shape) -> tuple[LayerWeight, ...]:
        """This layer's weights for input ``shape``, in order (kernel before bias), in Keras' layouts."""
        return ()

    @property
    def adapts(self) -> bool:
        """True when the layer learns statistics from the training data before training (Normalization)."""
        return False

    @property
    def cancels_bias(self) -> bool:
        """True when it subtracts, per channel, the mean of what it receives and adds its own offset β: a bias
        just before it is wasted (the ``bias-before-batchnorm`` lint). BatchNormalization with ``center``; the
        per-sample normalizations say when their statistics are per channel (``scale_shift.py``)."""
        return self.normalizes_batch and bool(getattr(self, "center", False))

    @property
    def draws_masks(self) -> bool:
        """True when training draws a random mask for this layer (a dropout whose rate is above 0)."""
        return False

    @property
    def activation_fn(self) -> ActivationFn | None:
        """The activation this layer applies itself, if any (an activation layer of its own kind, such as
        PReLU or ReLU(max_value=6), names the family of what it computes: ``activation_is_exact`` is then
        false; see compiler/ir/layers/activation_layer.py)."""
        return getattr(self, "activation", None)

    @property
    def activation_is_exact(self) -> bool:
        """True when ``activation_fn`` is exactly what the layer computes; false when it names only its family
        (auto-init and the lints judge by the family; a cross-entropy never fuses with it)."""
        return True


def require_rank(kind: str, shape: Shape, rank: int, hint: str = "") -> None:
    """Raise ``ShapeError`` unless ``shape`` (without batch) has ``rank`` axes."""
    if len(shape) != rank:
        want = {1: "a 1-D feature vector (batch, features)", 3: "a 3-D image (batch, height, width, channels)"}[rank]
        raise ShapeError(f"{kind} expects {want}, received shape {shape_tuple(shape)}{hint}")


def shape_tuple(shape: Shape) -> str:
    return "(" + ", ".join(["batch", *map(str, shape)]) + ")"
