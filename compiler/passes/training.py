"""The ``train { ... }`` section → ``Training``: every setting bound and checked like a call's arguments."""

from __future__ import annotations

import typing

from compiler.ir import training as tr
from compiler.ir.names import show_name
from compiler.ir.base import SourceSpan
from compiler.passes.bind import LITERAL_NOUNS, VALUE_KINDS, BindError, bind, call_parts, choose, converter
from compiler.passes.evaluate import DictVal, Evaluator, EvalError, Sym, Val
from compiler.passes.value_kinds import bind_kind
from compiler.semantics.outputs import loss_by_key, metrics_by_key, output_problems
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
    kind = choose(Val(Sym(name), name_span), (*builtin, "file", "npz", "csv", *tr.SYNTHETIC_CLASSES,
                                              *tr.NAMED_DATA_CLASSES), what, noun="data set")
    if kind in ("npz", "csv"):
        return to_named_file(kind, val, args, kwargs, what)
    if kind in tr.NAMED_DATA_CLASSES:
        return bind_kind(val, what, tr.NAMED_DATA_CLASSES, {k: ("n_samples", "noise") for k in tr.NAMED_DATA_CLASSES},
                         noun="data set")
    if kind in builtin:
        if args or kwargs:
            raise BindError(f"data set {kind} takes no arguments", val.span)
        return tr.BuiltinData(name=kind)
    if kind == "file":
        return bind(tr.FileData, args, kwargs, "data file", val.span, positional=("path", "label"),
                    allowed=["path", "label"])
    return bind_kind(val, what, tr.SYNTHETIC_CLASSES, SYNTHETIC_ARGS, noun="data set")


def to_named_file(kind: str, val: Val, args, kwargs, what: str) -> tr.NamedFileData:
    """``npz(path, x={key: "array"}, y={key: "array"})``, ``csv(path, x={key: ["c1", "c2"]}, y={key: "c3"})``:
    a string (``x="images"``) serves the model's only input (output)."""
    where = f"data {kind}(...)"
    given = dict(zip(("path", "x", "y"), args))
    errors: list[BindError] = []
    if len(args) > 3:
        errors.append(BindError(f"{where} takes at most 3 positional arguments (path, x, y)", args[3].span))
    for key, v in kwargs:
        if key not in ("path", "x", "y"):
            errors.append(BindError(f"{where} has no argument '{key}'", v.key_span or v.span,
                                    did_you_mean(key, ("path", "x", "y")) or "it takes path, x, y"))
        elif key in given:
            errors.append(BindError(f"{where}: argument '{key}' is given twice", v.key_span or v.span))
        else:
            given[key] = v
    for key in ("path", "x", "y"):
        if key not in given:
            errors.append(BindError(f"{where}: missing required argument '{key}'", val.span))
    parts: dict = {}
    if "path" in given:
        try:
            parts["path"] = converter(str)(given["path"], f"{where}: argument 'path'")
        except BindError as exc:
            errors.extend(exc.every())
    for side in ("x", "y"):
        if side in given:
            try:
                parts[side] = _array_groups(kind, given[side], f"{where}: argument '{side}'")
            except BindError as exc:
                errors.extend(exc.every())
    if errors:
        errors[0].also = errors[1:]
        raise errors[0]
    return tr.NamedFileData(kind=kind, **parts)


def _array_groups(kind: str, val: Val, what: str) -> tuple[tr.ArrayGroup, ...]:
    """``{key: "name", ...}`` (npz: one array a key; csv: a column or a list of columns), or one string."""
    def names(v: Val, where: str) -> tuple[str, ...]:
        if kind == "csv" and isinstance(v.value, tuple):
            if not v.value:
                raise BindError(f"{where}: expected at least one column, received an empty list", v.span)
            return tuple(_string(i, where) for i in v.value)
        return (_string(v, where),)

    if isinstance(val.value, DictVal):
        return _per_key(val, lambda key, v: tr.ArrayGroup(key=key, names=names(v, f"{what}: key {show_name(key)}"),
                                                          span=SourceSpan.of(v.key_span or v.span)))
    if isinstance(val.value, str) or kind == "csv" and isinstance(val.value, tuple):
        return (tr.ArrayGroup(key="", names=names(val, what), span=SourceSpan.of(val.span)),)
    shape = '{image: "images", meta: "meta"}' if kind == "npz" else '{a: ["c1", "c2"], b: "c3"}'
    raise BindError(f"{what}: expected a dict such as {shape} or one {'array' if kind == 'npz' else 'column'} name "
                    f"in quotes, received {val.describe()}", val.span)


def _string(v: Val, what: str) -> str:
    if isinstance(v.value, str):
        return v.value
    raise BindError(f"{what}: expected a name in quotes, received {v.describe()}", v.span)


def to_early_stopping(val: Val, what: str) -> tr.EarlyStopping:
    """``monitor(val_loss, patience=5, min_delta=0.001, mode=min, restore_best_weights=true)``."""
    name, name_span, args, kwargs = call_parts(val)
    choose(Val(Sym(name), name_span), ("monitor",), what, noun="early-stopping rule")
    return bind(tr.EarlyStopping, args, kwargs, "early stopping monitor", val.span,
                positional=("monitor", "patience", "min_delta"))


def to_loss_setting(val: Val, what: str):
    """``loss = mse`` (one loss for every output) or ``loss = {digit: ..., ink: mse}`` (one per output key)."""
    if not isinstance(val.value, DictVal):
        return to_loss(val, what)
    return _per_key(val, lambda key, v: tr.OutputLoss(key=key, loss=to_loss(v, f"{what}: output {show_name(key)}"),
                                                       span=SourceSpan.of(v.key_span or v.span)))


def to_loss_weights(val: Val, what: str) -> tuple[tr.OutputWeight, ...]:
    """``loss_weights = {digit: 1.0, ink: 0.5}``: a weight ≥ 0 per output key."""
    if not isinstance(val.value, DictVal):
        raise BindError(f"{what}: expected a dict of weights such as {{digit: 1.0, ink: 0.5}}, received "
                        f"{val.describe()}", val.span)

    def weight(key: str, v: Val) -> tr.OutputWeight:
        w = _to_float_value(v, f"{what}: output {show_name(key)}")
        if w < 0:
            raise BindError(f"{what}: output {show_name(key)}: expected a value >= 0, received {v.describe()}", v.span)
        return tr.OutputWeight(key=key, weight=w, span=SourceSpan.of(v.key_span or v.span))
    return _per_key(val, weight)


_METRIC_LIST = converter(tuple[tr.Metric, ...])
_METRIC = converter(tr.Metric)


def to_metrics_setting(val: Val, what: str):
    """``metrics = [accuracy]`` or ``metrics = {digit: [accuracy], ink: mae}`` (a list, or one name, per key)."""
    if not isinstance(val.value, DictVal):
        return _METRIC_LIST(val, what)

    def metrics(key: str, v: Val) -> tr.OutputMetrics:
        where = f"{what}: output {show_name(key)}"
        names = _METRIC_LIST(v, where) if isinstance(v.value, tuple) else (_METRIC(v, where),)
        return tr.OutputMetrics(key=key, metrics=names, span=SourceSpan.of(v.key_span or v.span))
    return _per_key(val, metrics)


def _per_key(val: Val, make) -> tuple:
    """``make(key, value)`` for every item of a dict value; every item's errors are raised together."""
    out, errors = [], []
    for key, v in val.value.items:
        try:
            out.append(make(key, v))
        except BindError as exc:
            errors.extend(exc.every())
    if errors:
        errors[0].also = errors[1:]
        raise errors[0]
    return tuple(out)


def _to_float_value(v: Val, what: str) -> float:
    return converter(float)(v, what)


LITERAL_NOUNS[tr.Metric] = "metric"
VALUE_KINDS[tr.LossSetting] = to_loss_setting
VALUE_KINDS[tuple[tr.OutputWeight, ...]] = to_loss_weights
VALUE_KINDS[tr.MetricsSetting] = to_metrics_setting
VALUE_KINDS[tr.Loss] = to_loss
VALUE_KINDS[typing.get_args(tr.Optimizer)[0]] = to_optimizer
VALUE_KINDS[typing.get_args(tr.Data)[0]] = to_data
VALUE_KINDS[tr.EarlyStopping] = to_early_stopping


def build_training(train: ast.TrainDef, evaluator: Evaluator, sink: DiagnosticSink,
                   output_keys: tuple[str, ...] = ()) -> tr.Training | None:
    """Evaluate and bind every setting; all problems go to ``sink``. ``output_keys``: the keys of the model's
    ``output NAME = ...`` lines (``declared_output_keys``), () when it marks none (one output)."""
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
        for setting, message, hint in training_problems(training, output_keys):
            value = next((s.value for s in train.settings if s.name == setting), None)
            sink.error(message, value.span if setting in ("early_stopping", "metrics") and value else train.span, hint)
        problems = output_problems(training, output_keys)
        for setting, where, message, hint in problems:
            value = next((s.value for s in train.settings if s.name == setting), None)
            sink.error(message, where.to_span() if where is not None else value.span if value else train.span, hint)
        if len(output_keys) == 1:
            if training.loss_weights:
                weight = training.loss_weights[0]
                sink.error("loss_weights weighs the losses of several outputs; this model has one",
                           weight.span.to_span() if weight.span else train.span,
                           "remove it (to scale the loss, scale the learning rate)")
            elif not problems:
                training = one_output_form(training)
    return training  # type: ignore[return-value]


def one_output_form(training: tr.Training) -> tr.Training:
    """A one-output model's settings written per key (``loss = {label: mse}``, ``metrics = {label: [mae]}``) in
    the form of one output (``loss = mse``, ``metrics = [mae]``): one meaning, one IR."""
    update = {}
    if isinstance(training.loss, tuple):
        update["loss"] = training.loss[0].loss
    if training.metrics and isinstance(training.metrics[0], tr.OutputMetrics):
        update["metrics"] = training.metrics[0].metrics
    return training.model_copy(update=update) if update else training


def output_losses(training: tr.Training | None, output_keys: tuple[str, ...], layers, outputs) -> list[tuple]:
    """(loss, index of the output layer in ``layers``) for every output that has a loss: what
    ``compiler.semantics.losses.loss_problems`` checks, once per output. ``outputs``: the output layers'
    names, in the order of ``output_keys`` (when the model names them)."""
    if training is None:
        return []
    keys = output_keys or ("output",) * len(outputs)
    index = {layer.name: i for i, layer in enumerate(layers)}
    losses = loss_by_key(training, keys)
    return [(losses[key], index[name]) for key, name in zip(keys, outputs) if key in losses and name in index]


def data_key_problems(training: tr.Training, input_keys, output_keys) -> list[tuple]:
    """What is wrong with the keys of named data (``npz(...)``, ``csv(...)``) against the model's Input names and
    output keys, as (SourceSpan or None, message, hint): a key that is no input (output), a string where the
    model has several, an input (output) without an array."""
    data = training.data
    if not isinstance(data, tr.NamedFileData):
        return []
    problems = []
    sides = (("x", data.x, tuple(input_keys), "input"), ("y", data.y, tuple(output_keys), "output"))
    for side, groups, keys, noun in sides:
        given = set()
        for g in groups:
            if g.key == "":
                if len(keys) != 1:
                    problems.append((g.span, f"data {side}: one {'array' if data.kind == 'npz' else 'column group'} "
                                     f"serves a model with one {noun}, but this one has {len(keys)} ({', '.join(keys)})",
                                     f"give a dict: {side}={{{keys[0]}: ...}}"))
                given.update(keys)
            elif g.key not in keys:
                problems.append((g.span, f"data {side} names {show_name(g.key)}, which is no {noun} of the model",
                                 did_you_mean(g.key, keys) or f"the model's {noun}s are {', '.join(keys)}"))
            else:
                given.add(g.key)
        missing = [k for k in keys if k not in given]
        if missing and groups:
            problems.append((groups[0].span, f"data {side}: the model's {noun} '{missing[0]}' has no array"
                             + (f" (nor {', '.join(repr(m) for m in missing[1:])})" if missing[1:] else ""),
                             f"add {missing[0]}: ... to {side}"))
    problems += _reused_names(data)
    return problems


def _reused_names(data: tr.NamedFileData) -> list[tuple]:
    """A name of the file used twice: an array or column in x and in y (the model would be given its
    targets), or a csv column twice (in one group or in two: one feature each, so a typo)."""
    what = "array" if data.kind == "npz" else "column"
    first: dict[str, tuple[str, tr.ArrayGroup]] = {}
    problems = []
    for side, groups in (("x", data.x), ("y", data.y)):
        for g in groups:
            for name in g.names:
                seen = first.get(name)
                if seen is None:
                    first[name] = (side, g)
                    continue
                here, there = _group_name(side, g), _group_name(*seen)
                if seen[0] != side:
                    problems.append((g.span, f"data: {what} {show_name(name)} is both an input ({there}) and a target "
                                     f"({here}): the model would be given the answers",
                                     f"give {here} another {what}"))
                elif data.kind == "csv":
                    problems.append((g.span, f"data: column {show_name(name)} is given twice ({there}"
                                     + (f" and {here})" if here != there else ")"),
                                     "each column is one feature of one input or output: name it once"))
    return problems


def _group_name(side: str, g: tr.ArrayGroup) -> str:
    return f"{side}[{show_name(g.key)}]" if g.key else side


def declared_output_keys(model: ast.ModelDef) -> tuple[str, ...]:
    """The keys of the model's ``output NAME = ...`` lines (at the model's top level), in source order."""
    return tuple(item.name for item in model.body.items if getattr(item, "output", False))


VALUE_METRICS = ("mse", "mae", "rmse")  # mean (squared/absolute) differences of outputs and targets, element-wise


def training_problems(training: tr.Training, output_keys: tuple[str, ...] = ()) -> list[tuple[str, str, str | None]]:
    """What is wrong with a bound train section as a whole, as (setting, message, hint): the rules that
    span settings, shared by the compiler and the IR check (``compiler.passes.verify``): clip_norm with
    clip_value; a value metric (``VALUE_METRICS``) on class-index targets; early stopping on what is not recorded.
    ``output_keys``: the model's output keys when it names them (``Spec.output_keys``), else ()."""
    problems: list[tuple[str, str, str | None]] = []
    if training.clip_norm is not None and training.clip_value is not None:
        problems.append(("clip_norm", "train section: give clip_norm or clip_value, not both", None))
    keys = output_keys or ("output",)
    losses, metrics = loss_by_key(training, keys), metrics_by_key(training, keys)
    for key in keys:
        if key not in losses or losses[key].kind != "sparse_categorical_crossentropy":
            continue
        for metric in metrics.get(key, ()):
            if metric in VALUE_METRICS:
                problems.append(("metrics", f"metric {metric} compares the outputs with targets of their shape, but "
                                 "sparse_categorical_crossentropy's targets are class indices (one per sample)",
                                 "use accuracy, or categorical_crossentropy with one-hot targets"))
    if training.early_stopping is not None:
        monitor, choices = training.early_stopping.monitor, monitorable(training, output_keys)
        if monitor not in choices:
            problems.append(("early_stopping", f"early stopping monitors {ascii(monitor)}, which training does not "
                             "record", did_you_mean(monitor, choices) or "it can monitor " + ", ".join(choices)))
    return problems


def monitorable(training: tr.Training, output_keys: tuple[str, ...] = ()) -> list[str]:
    """What early stopping can watch: the loss and each metric (several outputs: each output's loss and
    metrics, ``compiler.semantics.outputs``), on training and validation data."""
    keys = output_keys or ("output",)
    metrics = metrics_by_key(training, keys)
    if len(keys) == 1:
        names = ["loss", *metrics.get(keys[0], ())]
    else:
        names = ["loss", *[n for key in keys for n in (f"{key}_loss", *(f"{key}_{m}" for m in metrics.get(key, ())))]]
    return names + [f"val_{n}" for n in names]
