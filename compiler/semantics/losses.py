"""Losses as Keras 3.15 computes them, and what the loss reads: the one statement every backend and
emitter consumes.

**What the loss reads (fusion).** Keras' ``_get_logits`` (keras/src/backend/tensorflow/nn.py) takes the
input of *any* softmax or sigmoid that produced the predictions (cached on the tensor as
``_keras_logits``) and computes every cross-entropy from it, exactly and unclipped, whatever
``from_logits`` says. Layers that hand on the very same tensor keep that cache: a linear ``Activation``,
and a dropout at inference or with rate 0. Anything else (a Dense, Flatten's reshape, pooling, a dropout
mask in training) makes a new tensor, and the loss reads that tensor as it is. nnspec pins the pairs
that mean what they say and refuses the others with an error (``loss_problems``):

- ``FUSED``: a ``from_logits=false`` cross-entropy and the output activation it undoes (softmax for
  the categorical losses, sigmoid for the binary one): the loss reads the activation's input, the
  model still outputs probabilities. As Keras.
- ``from_logits=true`` after a softmax/sigmoid output: refused (Keras ignores the flag there).
- a sigmoid output under a categorical loss, a softmax output under binary cross-entropy: refused
  (Keras computes a softmax, resp. sigmoid, cross-entropy of the other activation's input).
- a ``Softmax`` output layer over other axes than the last alone (``activation_is_exact`` false) under a
  categorical cross-entropy: refused (Keras fuses a one-axis softmax with a cross-entropy over the *last*
  axis, and reads a several-axes softmax as probabilities over the last axis).
- a dropout (rate > 0) after a softmax/sigmoid output under a cross-entropy: refused (Keras computes
  the training loss on the dropped probabilities, the validation loss from the logits).
- every other output (linear, relu, tanh, …, or a softmax followed by Flatten, pooling, …): the loss
  reads the output as it is — logits when ``from_logits=true``, else probabilities clipped to
  [ε, 1 − ε], ε = 1e-7 (``EPSILON``), the gradient passing inside the bounds, bounds included.
  mse and mae always read the output.

**The formulas** (``formula(kind, logits)``, ``loss_value``; ``xp`` is the array namespace, numpy or
torch): the mean of Keras' per-position loss (``sum_over_batch_size``: the sum over the loss tensor divided by
its size). Keras' loss functions reduce the last axis only (the classes, or an output's units), so an output
of shape (N, C) has N positions and a per-pixel output (N, H, W, C) has N·H·W: a segmentation's loss is the
mean over the batch AND the pixels (``n_positions``). Written once with operations both namespaces
spell the same way (``clip``, ``log``, ``log1p``, ``exp``, ``abs``, ``amax``, ``maximum``, ``where``,
``sum(axis=, keepdims=)``). The PyTorch emitter copies them into the programs it writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Graph

EPSILON = 1e-7
CROSS_ENTROPIES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
# the cross-entropy kind -> the output activation it undoes, reading that activation's input
FUSED = {"categorical_crossentropy": "softmax", "sparse_categorical_crossentropy": "softmax",
         "binary_crossentropy": "sigmoid"}
PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


# ---- what the loss reads ---------------------------------------------------------------------------

def passes_tensor_through(layer) -> bool:
    """True for a layer whose Keras ``call`` returns its input tensor itself at inference (so Keras'
    cached logits survive it): a linear Activation, a dropout (in training only at rate 0)."""
    if layer.is_activation:
        return layer.activation_fn.kind == "linear"
    return layer.random


def output_path(layers, output: int | None = None) -> list[int]:
    """The indices from the output layer (``output``, default the last) back through its single inputs,
    output first, ending at an Input or a merge: the layers a value passes on its way out of the model."""
    graph = Graph.of(layers)
    i = len(layers) - 1 if output is None else output
    path = []
    while i is not None:
        path.append(i)
        i = graph.only_source(i)
    return path


def output_activation(layers, output: int | None = None) -> tuple[int, str] | None:
    """(index of the layer, kind) of the activation whose tensor the model outputs — the output layer's own
    nonlinear activation, looking back through the layers of ``passes_tensor_through`` — or None.
    ``output``: the index of the output layer (default the last)."""
    for i in output_path(layers, output):
        act = layers[i].activation_fn
        if act is not None and act.kind != "linear":
            return i, act.kind
        if not passes_tensor_through(layers[i]):
            return None
    return None


@dataclass(frozen=True)
class LossInput:
    """What the loss reads: ``fused_at`` is the index of the layer whose final activation the loss undoes
    (it reads that activation's input; the layers after it pass the values through), None when the loss
    reads the model's output; ``logits`` tells whether what it reads are logits."""

    fused_at: int | None
    logits: bool

    @property
    def fused(self) -> bool:
        return self.fused_at is not None


def loss_input(spec, output: int | None = None, loss=None) -> LossInput:
    """The rule of the module for an accepted spec (``loss_problems`` empty): what ``loss`` (default the
    spec's) reads of the output layer at index ``output`` (default the model's first output)."""
    if loss is None:
        loss = spec.training.loss if spec.training else None
        if isinstance(loss, tuple):  # one loss per output key: the first output's (compiler.semantics.outputs)
            key = spec.output_key_names[0]
            loss = next((item.loss for item in loss if item.key == key), None)
    if loss is None:
        return LossInput(None, False)
    if loss.from_logits:
        return LossInput(None, True)
    found = output_activation(spec.layers, _output_index(spec) if output is None else output)
    if found is not None and FUSED.get(loss.kind) == found[1]:
        return LossInput(found[0], True)
    return LossInput(None, False)


def _output_index(spec) -> int:
    """The index of the model's (first) output layer."""
    name = spec.output_names[0]
    return next(i for i in range(len(spec.layers) - 1, -1, -1) if spec.layers[i].name == name)


def is_fused(spec) -> bool:
    """True when the loss reads the input of the model's output softmax/sigmoid (see the module)."""
    return loss_input(spec).fused


@dataclass(frozen=True)
class LossProblem:
    """A refused pairing: ``layer`` is the index of the layer to point at, None for the loss itself."""

    message: str
    hint: str
    layer: int | None = None


def loss_problems(layers, loss, output: int | None = None) -> list[LossProblem]:
    """The pairings of the model's ``layers`` and ``loss`` that nnspec refuses (see the module), each with
    what Keras would do instead. ``output``: the index of the output layer ``loss`` reads (default the last);
    a model with several outputs is checked once per output, with that output's loss. Shared by the compiler
    and the IR check (``compiler.passes.verify``)."""
    if loss is None or loss.kind not in CROSS_ENTROPIES:
        return []
    path = output_path(layers, output)
    found = output_activation(layers, output)
    if found is None or found[1] not in PROBABILITY_ACTIVATIONS:
        return []
    index, act = found
    problems = []
    if loss.from_logits:
        problems.append(LossProblem(
            f"the output applies {act}, so it is not logits; Keras ignores from_logits=true here and computes "
            f"{loss.kind} from the {act}'s input", f"set from_logits=false, or remove the {act} from the output"))
    if FUSED[loss.kind] != act:
        wanted = FUSED[loss.kind]
        problems.append(LossProblem(
            f"{loss.kind} after a {act} output: Keras would compute a {wanted} cross-entropy of the {act}'s "
            "input, not the loss of these probabilities",
            "use a softmax output with (sparse_)categorical_crossentropy, a sigmoid output with "
            "binary_crossentropy"))
    elif not loss.from_logits and not layers[index].activation_is_exact:
        problems.append(LossProblem(
            f"{loss.kind} reads a distribution over the last axis, but the output's {layers[index].kind} "
            f"'{layers[index].name}' does not normalise over the last axis alone: Keras would compute the loss "
            "from the softmax's input over the last axis (one axis) or read these values as probabilities over "
            "the last axis (several axes)", "use Softmax() (axis=-1) for the output, or a loss that reads the output as it "
            "is (mse, mae)", index))
    for j in reversed(path[:path.index(index)]):
        if layers[j].draws_masks:
            problems.append(LossProblem(
                f"{layers[j].kind} after the output's {act}: Keras computes the training loss on the "
                f"dropped probabilities but the validation loss from the {act}'s input",
                f"move the {layers[j].kind} before the output layer", j))
    return problems


# ---- the formulas ------------------------------------------------------------------------------------

def clip(xp, p):
    """clip(p, ε, 1 − ε): the gradient passes inside the bounds, bounds included (TensorFlow, torch)."""
    return xp.clip(p, EPSILON, 1 - EPSILON)


def log_softmax(xp, z):
    """z − log Σ eᶻ over the last axis (shifted by the maximum)."""
    shifted = z - xp.amax(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def n_positions(z):
    """The positions of the last axis' distributions in z: N for (N, C), N·H·W for a per-pixel (N, H, W, C)."""
    count = 1
    for d in z.shape[:-1]:
        count *= d
    return count


def mse(xp, out, y):
    """mean_n mean_d (out − y)²."""
    diff = out - y
    return xp.mean(diff * diff)


def mae(xp, out, y):
    """mean_n mean_d |out − y|."""
    return xp.mean(xp.abs(out - y))


def binary_crossentropy(xp, p, y):
    """Probabilities p, clipped: −mean(y·log p + (1 − y)·log(1 − p))."""
    p = clip(xp, p)
    return -xp.mean(y * xp.log(p) + (1 - y) * xp.log(1 - p))


def binary_crossentropy_from_logits(xp, z, y):
    """Logits z: mean(max(z, 0) − z·y + log(1 + e^−|z|)) (derivative σ(z) − y, also at z = 0)."""
    return xp.mean(xp.maximum(z, xp.zeros_like(z)) - z * y + xp.log1p(xp.exp(-xp.abs(z))))


def categorical_crossentropy(xp, p, y):
    """Probabilities: q = p/Σp (Keras renormalises), −mean over positions of Σ_c y·log clip(q)."""
    q = p / p.sum(axis=-1, keepdims=True)
    return -(y * xp.log(clip(xp, q))).sum() / n_positions(p)


def categorical_crossentropy_from_logits(xp, z, y):
    """Logits z: −mean over positions of Σ_c y·log_softmax(z)."""
    return -(y * log_softmax(xp, z)).sum() / n_positions(z)


def sparse_categorical_crossentropy(xp, p, y):
    """Integer labels y, probabilities p: Keras feeds log(clip(p)) to the from-logits formula, so
    −mean over positions of (log p_y − log Σ p) with p clipped."""
    return sparse_categorical_crossentropy_from_logits(xp, xp.log(clip(xp, p)), y)


def sparse_categorical_crossentropy_from_logits(xp, z, y):
    """Integer labels y (one a position), logits z: −mean over positions of log_softmax(z)[y]."""
    onehot = y.reshape(tuple(z.shape[:-1]) + (1,)) == xp.arange(z.shape[-1])
    return -xp.where(onehot, log_softmax(xp, z), 0).sum() / n_positions(z)


# the loss kind -> its formula on what the model outputs (mse, mae: always), and on logits
FORMULAS = {f.__name__: f for f in (mse, mae, binary_crossentropy, categorical_crossentropy,
                                    sparse_categorical_crossentropy)}
FROM_LOGITS = {f.__name__.removesuffix("_from_logits"): f for f in (
    binary_crossentropy_from_logits, categorical_crossentropy_from_logits, sparse_categorical_crossentropy_from_logits)}
HELPERS = (clip, log_softmax, n_positions, sparse_categorical_crossentropy_from_logits)  # what a formula may call


def formula(kind: str, logits: bool):
    """The formula of loss ``kind`` on logits (``logits``) or on the outputs as they are."""
    return FROM_LOGITS[kind] if logits and kind in FROM_LOGITS else FORMULAS[kind]


def loss_value(xp, kind: str, out, y, logits: bool):
    """The mean loss of ``out`` against ``y`` in namespace ``xp`` (numpy or torch)."""
    return formula(kind, logits)(xp, out, y)
