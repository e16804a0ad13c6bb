"""The ``train { ... }`` section → ``Training``: every setting bound and checked like a call's arguments."""

from __future__ import annotations

import typing

from compiler.ir import training as tr
from compiler.ir.base import SourceSpan
from compiler.passes.bind import LITERAL_NOUNS, VALUE_KINDS, BindError, bind, call_parts, choose
from compiler.passes.evaluate import Evaluator, EvalError, Sym, Val
from compiler.passes.value_kinds import bind_kind
from spec_lang import ast
from spec_lang.diagnostics import DiagnosticSink, did_you_mean

LOSS_KINDS = typing.get_args(tr.Loss.model_fields["kind"].annotation)
LOSS_ARGS = {k: ("from_logits",) for k in LOSS_KINDS if k.endswith("crossentropy")}
SYNTHETIC_ARGS = {k: tuple(f for f in c.model_fields if f != "kind") for k, c in tr.SYNTHETIC_CLASSES.items()}


def to_loss(val: Val, what: str) -> tr.Loss:
    loss = bind_kind(val, what, {k: tr.Loss for k in LOSS_KINDS}, LOSS_ARGS, aliases=tr.LOSS_ALIASES, noun="loss")
    return loss.model_copy(update={"span": SourceSpan.of(val.span)})


OPTIMIZER_ARGS = {k: tuple(f for f in c.model_fields if f not in ("kind", "span"))
                  for k, c in tr.OPTIMIZER_CLASSES.items()}


def to_optimizer(val: Val, what: str):
    optimizer = bind_kind(val, what, tr.OPTIMIZER_CLASSES, OPTIMIZER_ARGS, noun="optimizer")
    return optimizer.model_copy(update={"span": SourceSpan.of(val.span)})


def to_data(val: Val, what: str):
    """``digits`` (a bundled data set), ``"file.npz"`` / ``file("f.csv", label="y")``, or a generated set:
    ``spirals(...)``, ``blobs(...)``, ``regression(...)``, ``shapes(...)``."""
    if isinstance(val.value, str):
        return tr.FileData(path=val.value)
    name, name_span, args, kwargs = call_parts(val)
    builtin = tuple(tr.BUILTIN_DATASETS)
    kind = choose(Val(Sym(name), name_span), (*builtin, "file", *tr.SYNTHETIC_CLASSES), what, noun="data set")
    if kind in builtin:
        if args or kwargs:
            raise BindError(f"data set {kind} takes no arguments", val.span)
        return tr.BuiltinData(name=kind)
    if kind == "file":
        return bind(tr.FileData, args, kwargs, "data file", val.span, positional=("path", "label"),
                    allowed=["path", "label"])
    return bind_kind(val, what, tr.SYNTHETIC_CLASSES, SYNTHETIC_ARGS, noun="data set")


def to_early_stopping(val: Val, what: str) -> tr.EarlyStopping:
    """``monitor(val_loss, patience=5, min_delta=0.001, mode=min, restore_best_weights=true)``."""
    name, name_span, args, kwargs = call_parts(val)
    choose(Val(Sym(name), name_span), ("monitor",), what, noun="early-stopping rule")
    return bind(tr.EarlyStopping, args, kwargs, "early stopping monitor", val.span,
                positional=("monitor", "patience", "min_delta"))


LITERAL_NOUNS[tr.Metric] = "metric"
VALUE_KINDS[tr.Loss] = to_loss
VALUE_KINDS[typing.get_args(tr.Optimizer)[0]] = to_optimizer
VALUE_KINDS[typing.get_args(tr.Data)[0]] = to_data
VALUE_KINDS[tr.EarlyStopping] = to_early_stopping


def build_training(train: ast.TrainDef, evaluator: Evaluator, sink: DiagnosticSink) -> tr.Training | None:
    """Evaluate and bind every setting; all problems go to ``sink``."""
    settings: list[tuple[str, Val]] = []
    for setting in train.settings:
        try:
            settings.append((setting.name, evaluator.evaluate(setting.value, {})))
        except EvalError as exc:
            sink.error(exc.message, exc.span, exc.hint)
    for setting in train.settings:  # report a bad key at the key, not at its value
        if setting.name not in tr.TRAINING_KEYS:
            settings = [(k, v) if k != setting.name else (k, Val(v.value, setting.name_span)) for k, v in settings]
    errors: list[BindError] = []
    training = bind(tr.Training, (), tuple(settings), "train section", train.span, positional=(),
                    allowed=list(tr.TRAINING_KEYS), errors=errors, arg_word="setting",
                    fixed={"span": SourceSpan.of(train.span)})
    for e in errors:
        sink.error(e.message, e.span, e.hint)
    if training is not None:
        for setting, message, hint in training_problems(training):
            value = next((s.value for s in train.settings if s.name == setting), None)
            sink.error(message, value.span if setting in ("early_stopping", "metrics") and value else train.span, hint)
    return training  # type: ignore[return-value]


VALUE_METRICS = ("mse", "mae", "rmse")  # mean (squared/absolute) differences of outputs and targets, element-wise


def training_problems(training: tr.Training) -> list[tuple[str, str, str | None]]:
    """What is wrong with a bound train section as a whole, as (setting, message, hint): the rules that
    span settings, shared by the compiler and the IR check (``compiler.passes.verify``): clip_norm with
    clip_value; a value metric (``VALUE_METRICS``) on class-index targets; early stopping on what is not recorded."""
    problems: list[tuple[str, str, str | None]] = []
    if training.clip_norm is not None and training.clip_value is not None:
        problems.append(("clip_norm", "train section: give clip_norm or clip_value, not both", None))
    if training.loss.kind == "sparse_categorical_crossentropy":
        for metric in training.metrics:
            if metric in VALUE_METRICS:
                problems.append(("metrics", f"metric {metric} compares the outputs with targets of their shape, but "
                                 "sparse_categorical_crossentropy's targets are class indices (one per sample)",
                                 "use accuracy, or categorical_crossentropy with one-hot targets"))
    if training.early_stopping is not None:
        monitor, choices = training.early_stopping.monitor, monitorable(training)
        if monitor not in choices:
            problems.append(("early_stopping", f"early stopping monitors {ascii(monitor)}, which training does not "
                             "record", did_you_mean(monitor, choices) or "it can monitor " + ", ".join(choices)))
    return problems


def monitorable(training: tr.Training) -> list[str]:
    """What early stopping can watch: the loss and each metric, on training and validation data."""
    names = ["loss", *training.metrics]
    return names + [f"val_{n}" for n in names]
