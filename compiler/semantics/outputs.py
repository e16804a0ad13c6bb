"""Several inputs and outputs: what each output is trained with, and what training records — Keras 3.15's
``compile(loss=..., loss_weights=..., metrics=...)`` (keras/src/trainers/compile_utils.py: CompileLoss,
CompileMetrics), pinned for every backend and emitter.

Keys. Each output has a key (``Spec.output_key_names``: the NAME of ``output NAME = ...``, else its layer's
name); each Input its layer's name (``Spec.input_key_names``). The train section and the data use them:
``loss = {digit: ..., ink: mse}``, ``data = npz("f.npz", x={image: "images"}, y={digit: "labels"})``.

Rules:

- ``loss``: one loss applies to every output (Keras maps it over the outputs); a dict gives each output
  its own. Every key must be an output's, and every output needs a loss (Keras' functional model asks for
  the loss dict's keys to be exactly the outputs').
- ``loss_weights = {key: w}``: wₖ ≥ 0, 1 for an output not named. The total loss of a batch is
  Σₖ wₖ·lossₖ + penalties, each lossₖ the mean over the batch (``sum_over_batch_size``). Keras refuses
  ``loss_weights`` beside one loss for several outputs (their structures differ); nnspec gives each output
  that one loss with its weight. A model of one output takes no ``loss_weights`` (an error: a weight there
  only scales the loss), and its settings written per key (``loss = {label: mse}``) mean, and compile to,
  the one-output form (``loss = mse``).
- ``metrics``: on a one-output model a list applies to its output (a dict ``{key: [...]}`` as well); on a
  model with several outputs a dict ``{key: [...]}`` (an output not named gets none), or a list with one
  entry per output, in output order (Keras' flat case: ``[accuracy, mae]`` is accuracy on the first
  output, mae on the second). Another list is an error (Keras: "Invalid `metrics`").
- What training records (the history's names, each also with ``val_``): one output — ``loss``, then each
  metric by its name, as before; several outputs — ``loss`` (the weighted total, penalties included),
  ``<key>_loss`` for each output (its *unweighted* mean loss, as Keras tracks it), ``<key>_<metric>`` for
  each of its metrics.
- The loss fusion rule (``compiler.semantics.losses``) applies per output, with that output's loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.names import name_problem, show_name
from compiler.ir.training import Loss, OutputLoss, OutputMetrics, Training
from spec_lang.diagnostics import did_you_mean


@dataclass(frozen=True)
class Head:
    """One output as training sees it: its ``key``, position ``index`` among the outputs, the index ``layer``
    of its layer in ``spec.layers``, its ``loss``, ``weight`` and ``metrics``. ``prefix`` is what its history
    names start with: "" on a one-output model, else ``key + "_"``."""

    key: str
    index: int
    layer: int
    loss: Loss
    weight: float
    metrics: tuple[str, ...]
    prefix: str

    @property
    def loss_name(self) -> str:
        """Its loss in the history: ``<key>_loss`` (several outputs), ``loss`` (one)."""
        return f"{self.prefix}loss"

    def metric_name(self, metric: str) -> str:
        return f"{self.prefix}{metric}"


def heads(spec) -> tuple[Head, ...]:
    """Every output's ``Head``, in output order (``spec.outputs``); () without a train section."""
    t = spec.training
    if t is None:
        return ()
    keys = spec.output_key_names
    index = {layer.name: i for i, layer in enumerate(spec.layers)}
    losses = loss_by_key(t, keys)
    weights = {w.key: w.weight for w in t.loss_weights}
    metrics = metrics_by_key(t, keys)
    prefix = len(keys) > 1
    return tuple(Head(key, i, index[name], losses[key], weights.get(key, 1.0), metrics.get(key, ()),
                      f"{key}_" if prefix else "")
                 for i, (key, name) in enumerate(zip(keys, spec.output_names)))


def loss_by_key(training: Training, keys) -> dict[str, Loss]:
    """The loss of each output key (a key without one is left out: ``output_problems`` reports it)."""
    if isinstance(training.loss, Loss):
        return {key: training.loss for key in keys}
    return {item.key: item.loss for item in training.loss}


def metrics_by_key(training: Training, keys) -> dict[str, tuple[str, ...]]:
    """The metrics of each output key (see the module: a list's meaning depends on the number of outputs)."""
    m = training.metrics
    if m and isinstance(m[0], OutputMetrics):
        return {item.key: item.metrics for item in m}
    if len(keys) == 1:
        return {keys[0]: tuple(m)}
    if len(m) == len(keys):
        return {key: (metric,) for key, metric in zip(keys, m)}
    return {}


def is_several(spec) -> bool:
    """True when training has more than one output to report (the history then names them)."""
    return len(spec.output_names) > 1


def recorded_names(spec) -> list[str]:
    """What each epoch records besides ``loss`` (training data; validation adds ``val_``): on a one-output model
    its metrics, else each output's ``<key>_loss`` and ``<key>_<metric>``, in output order."""
    out: list[str] = []
    several = is_several(spec)
    for head in heads(spec):
        if several:
            out.append(head.loss_name)
        out.extend(head.metric_name(m) for m in head.metrics)
    return out


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an output key (``output NAME = ...``), or None. A key follows the layer-name rule
    (``compiler.ir.names``: it names history columns and the emitted programs' dict keys), and neither is
    ``val`` nor starts with ``val_``: the history's names of output ``val_x`` (``val_x_loss``) would be those of
    output ``x`` on validation data, and output ``val``'s ``val_loss`` the total's."""
    problem = name_problem(key)
    if problem is not None:
        return f"output key: {problem}"
    if key == "val" or key.startswith("val_"):
        return (f"output key {show_name(key)}: validation data's history names start with val_ (val_loss, "
                "val_<key>_loss), so a key 'val' or 'val_...' collides with them")
    return None


def output_problems(training: Training, keys) -> list[tuple[str, object, str, str | None]]:
    """What is wrong with the per-output settings against the model's output ``keys`` (() when the model marks
    no output: it has one, unnamed), as (setting, span or None, message, hint): a key that is no output, an
    output without a loss, a list of metrics that does not give one entry per output. ``span`` is the
    ``SourceSpan`` of the key (None: the setting's value)."""
    problems: list[tuple[str, object, str, str | None]] = []
    keys = tuple(keys)
    shown = ", ".join(keys)

    def unknown(setting: str, items) -> None:
        for item in items:
            if not keys:
                problems.append((setting, item.span, f"{setting} names the output {show_name(item.key)}, but the model "
                                 "names no output", f"mark it: output {item.key if name_problem(item.key) is None else 'NAME'} = <the output line>, or give "
                                 f"{setting} without a dict"))
            elif item.key not in keys:
                hint = did_you_mean(item.key, keys) or f"the model's outputs are {shown}"
                problems.append((setting, item.span, f"{setting} names {show_name(item.key)}, which is no output", hint))

    if not isinstance(training.loss, Loss):
        unknown("loss", training.loss)
        given = {item.key for item in training.loss}
        for key in keys:
            if key not in given:
                problems.append(("loss", None, f"output {show_name(key)} has no loss",
                                 f"add {key}: <loss> to the loss dict, or give one loss for every output"))
    unknown("loss_weights", training.loss_weights)
    m = training.metrics
    if m and isinstance(m[0], OutputMetrics):
        unknown("metrics", m)
    elif m and len(keys) > 1 and len(m) != len(keys):
        problems.append(("metrics", None, f"a list of metrics on a model with {len(keys)} outputs gives one metric "
                         f"per output, in order (Keras 3), but this one has {len(m)}",
                         "name the outputs: metrics = {" + f"{keys[0]}: [{m[0]}]" + "}"))
    return problems


def describe_losses(training: Training) -> list[tuple[str | None, Loss]]:
    """(key, loss) pairs as written: one (None, loss) for a single loss."""
    if isinstance(training.loss, Loss):
        return [(None, training.loss)]
    return [(item.key, item.loss) for item in training.loss]


__all__ = ["Head", "OutputLoss", "describe_losses", "heads", "is_several", "key_problem", "loss_by_key", "metrics_by_key",
           "output_problems", "recorded_names"]
