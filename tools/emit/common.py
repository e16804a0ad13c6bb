"""What the torch and Keras emitters share: the settings block, data loading, the learning-rate schedule.

Data loading is written out exactly as ``runtime.data.load_dataset`` does it (same draws, same
order, same label formats, same shuffle-then-split), so an emitted program trains on the very
arrays ``nnspec train`` would; the generators' formulas are those of ``runtime.data.generate``.
The shapes set's drawing function is copied into the program from its one definition
(``runtime.shape_images.draw_shapes``, written to fit the program's line length).
The schedule is ``compiler.semantics.schedules``' own formula traced into source (tools/emit/formula.py),
operation for operation, so the learning rate of every step is the same float.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path

from tools.emit.code import Code, literal, quote
from tools.emit.formula import KERAS_SOURCE, PYTHON_SOURCE, Source
from compiler.ir.spec import Spec
from compiler.semantics import metrics
from compiler.semantics.schedules import factor
from compiler.ir.training import (BUILTIN_DATASETS, BlobsData, BuiltinData, FileData, RegressionData,
                                  ShapeMasksData, ShapesData, SpiralsData)
from runtime.shape_images import draw_shapes

class EmitError(Exception):
    """A spec that cannot be written as a program (``str(error)`` is the message for the user)."""


# ---- facts about a spec both emitters need ------------------------------------------------------
def uses_dropout(spec: Spec) -> bool:
    return any(layer.draws_masks for layer in spec.layers)


def accuracy_kind(spec: Spec) -> str:
    """``compiler.semantics.metrics.accuracy_kind`` for an emitted program, whose labels are class indices
    exactly when the loss is the sparse one."""
    loss = spec.training.loss.kind
    return metrics.accuracy_kind(loss, spec.output_shape[-1], loss == "sparse_categorical_crossentropy")


def accuracy_threshold(spec: Spec) -> str:
    """The binary accuracy's threshold as source (``compiler.semantics.metrics.binary_threshold``); the
    emitted model outputs logits only under ``from_logits=true``."""
    return repr(metrics.binary_threshold(spec.training.loss.from_logits))


def describe(node) -> str:
    """``kind(arg=value, ...)`` for an IR value (a schedule, an optimizer, a data set), nested ones too."""
    args = []
    for key in type(node).model_fields:
        if key in ("kind", "span"):
            continue
        value = getattr(node, key)
        if hasattr(value, "kind") and hasattr(type(value), "model_fields"):
            args.append(f"{key}={describe(value)}")
        else:
            args.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    kind = getattr(node, "kind", type(node).__name__)
    if kind == "builtin":
        return node.name
    return f"{kind}({', '.join(args)})" if args else kind


# ---- the settings block --------------------------------------------------------------------------
def settings(code: Code, spec: Spec, dtype_line: str) -> None:
    """The spec's training settings as module constants."""
    t = spec.training
    code(f"SEED = {t.seed}",
         f"EPOCHS = {t.epochs}",
         f"BATCH_SIZE = {t.batch_size}",
         f"LEARNING_RATE = {literal(float(t.optimizer.learning_rate))}  # the base rate; the schedule scales it")
    if t.validation_split:
        code(f"VALIDATION_SPLIT = {literal(float(t.validation_split))}")
    code(dtype_line)


# ---- data ----------------------------------------------------------------------------------------
def data_imports(spec: Spec) -> list[str]:
    """Import lines the data code needs (scikit-learn only for its bundled sets; csv for CSV files)."""
    data = spec.training.data
    if isinstance(data, BuiltinData):
        return [f"from sklearn.datasets import load_{data.name}"]
    return []


def needs_csv(spec: Spec) -> bool:
    data = spec.training.data
    return data is None or isinstance(data, FileData) and Path(data.path).suffix.lower() == ".csv"


@dataclass(frozen=True)
class DataFile:
    """The emitted program's default data file: ``path`` as written into the program; when ``beside_program``
    it is relative to the program's own directory (found from ``__file__`` when the program runs), else it
    is absolute or relative to the directory the program runs in."""

    path: str
    beside_program: bool = False


def locate_data_file(path: str, base_dir: Path, program_dir: Path | None) -> DataFile:
    """Where a program written to ``program_dir`` (None: standard output, run where nnspec ran) finds the data
    file ``path``, which is relative to ``base_dir`` (the spec's directory, or the current one for ``--data``).
    An absolute path stays as the user wrote it; a relative one stays relative (no absolute path of the
    machine that emitted the program is written into it)."""
    if Path(path).is_absolute():
        return DataFile(path)
    target = os.path.abspath(base_dir / path)
    start = os.path.abspath(program_dir if program_dir is not None else ".")
    return DataFile(Path(os.path.relpath(target, start)).as_posix(), beside_program=program_dir is not None)


def data_section(code: Code, spec: Spec, data_file: DataFile | None) -> None:
    """``load_data(dtype)`` (and ``format_labels``, ``split``), for the spec's data set; ``data_file`` is the
    default of a file data set (see ``locate_data_file``)."""
    t = spec.training
    data = t.data
    input_shape = tuple(spec.input_shape)
    shape = ", ".join(["len(x)", *map(str, input_shape)])
    shaped = "(N, " + ", ".join(map(str, input_shape)) + ")"
    general = data is None or isinstance(data, FileData)
    _format_labels(code, spec, general)
    code.blank(2)
    split_note = _split_note(t.validation_split)
    if data is None or isinstance(data, FileData):
        data_file_constant(code, data, data_file, "pass a .npz (x, y) or .csv file")
        if needs_csv(spec):
            label = data.label if isinstance(data, FileData) else "label"
            code(f"LABEL_COLUMN = {literal(label)}")
        code.blank(2)
        with code.block('def load_data(path=DATA_FILE, dtype=DTYPE):'):
            what = ("an .npz file (arrays x and y, read without pickle) or a .csv file (a header row; the label in "
                    "LABEL_COLUMN, every other column a feature)") if data is None else (
                "the .csv file (a header row; the label in LABEL_COLUMN, every other column a feature)"
                if needs_csv(spec) else "the .npz file (arrays x and y, read without pickle)")
            code.docstring(f"(x_train, y_train, x_val, y_val) from {what}; x shaped {shaped},\n"
                           f"labels as {t.loss.kind} takes them; {split_note}")
            if data is None:
                with code.block("if path is None:"):
                    code('raise SystemExit("the spec names no data set: pass --data FILE.npz or FILE.csv")')
                with code.block('if str(path).endswith(".csv"):'):
                    _read_csv(code)
                with code.block("else:"):
                    _read_npz(code)
            elif needs_csv(spec):
                _read_csv(code)
            else:
                _read_npz(code)
            code(f"x = np.asarray(x).reshape({shape}).astype(dtype)")
            code("return split(x, format_labels(np.asarray(y), dtype))")
    else:
        with code.block("def load_data(dtype=DTYPE):"):
            code.docstring(f"(x_train, y_train, x_val, y_val): {_data_words(data)}, x shaped {shaped};\n"
                           f"labels as {t.loss.kind} takes them; {split_note}")
            if isinstance(data, BuiltinData):
                code(f"bunch = load_{data.name}()",
                     "x, y = np.asarray(bunch.data), np.asarray(bunch.target)")
            else:
                _generator(code, data)
            code(f"x = x.reshape({shape}).astype(dtype)")
            code("return split(x, format_labels(y, dtype))")
    code.blank(2)
    with code.block("def split(x, y):"):
        if t.validation_split:
            code.docstring("nnspec's validation split: shuffle once with SEED, hold out the last VALIDATION_SPLIT.\n"
                           "(Keras' validation_split takes the last fraction unshuffled.)")
            code("n_train = len(x) - int(round(len(x) * VALIDATION_SPLIT))",
                 "order = np.random.default_rng(SEED).permutation(len(x))",
                 "x, y = x[order], y[order]",
                 "return x[:n_train], y[:n_train], x[n_train:], y[n_train:]")
        else:
            code.docstring("No validation split in the spec: every sample trains, in file order.")
            code("return x, y, x[:0], y[:0]")


def _split_note(split: float) -> str:
    if not split:
        return "no validation split."
    return f"shuffled once with SEED, then the last {split * 100:g}% held out for validation."


def early_stopping_args(es) -> list[str]:
    """Keras' ``EarlyStopping`` arguments for the spec's rule (Keras' defaults left out)."""
    args = [f"monitor={literal(es.monitor)}", f"patience={es.patience}"]
    if es.min_delta:
        args.append(f"min_delta={literal(float(es.min_delta))}")
    if es.mode != "auto":
        args.append(f"mode={literal(es.mode)}")
    if es.restore_best_weights:
        args.append("restore_best_weights=True")
    return args


def _data_words(data) -> str:
    if isinstance(data, BuiltinData):
        features, classes = BUILTIN_DATASETS[data.name]
        return f"scikit-learn's {data.name} ({features} features, {classes} classes)"
    return f"generated {describe(data)}, from default_rng(SEED) as nnspec draws it"


def _read_npz(code: Code) -> None:
    with code.block("with np.load(path, allow_pickle=False) as archive:"):
        code('x, y = archive["x"], archive["y"]')


def _read_csv(code: Code) -> None:
    with code.block('with open(path, newline="", encoding="utf-8-sig") as f:'):
        code("header = [cell.strip() for cell in next(csv.reader(f))]")
    code.call("np.loadtxt", ["path", 'delimiter=","', "skiprows=1", "ndmin=2", 'encoding="utf-8-sig"'],
              prefix="values = ")
    code("column = header.index(LABEL_COLUMN)",
         "x, y = np.delete(values, column, axis=1), values[:, column]")


def _generator(code: Code, data) -> None:
    """``runtime.data.generate``, specialised to one generated data set."""
    if isinstance(data, (ShapesData, ShapeMasksData)):
        code(inspect.getsource(draw_shapes).rstrip("\n"), "")
    code("rng = np.random.default_rng(SEED)")
    if isinstance(data, SpiralsData):
        code(f"n, classes, noise = {data.n_samples}, {data.classes}, {literal(float(data.noise))}",
             "parts_x, parts_y = [], []")
        with code.block("for k in range(classes):"):
            code("n_k = n // classes + (1 if k < n % classes else 0)",
                 "t = (np.arange(n_k) + 0.5) / max(n_k, 1)  # position along the spiral, radius t",
                 "theta = 2 * math.pi * (k / classes + t)",
                 "parts_x.append(np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1))",
                 "parts_y.append(np.full(n_k, k, dtype=np.int64))")
        code("x, y = np.concatenate(parts_x), np.concatenate(parts_y)",
             "x = x + noise * rng.standard_normal(x.shape)",
             "order = rng.permutation(len(y))",
             "x, y = x[order], y[order]")
    elif isinstance(data, BlobsData):
        code(f"n, classes, features = {data.n_samples}, {data.classes}, {data.features}",
             f"noise = {literal(float(data.noise))}",
             "centres = rng.uniform(-10.0, 10.0, size=(classes, features))",
             "sizes = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]",
             "y = np.repeat(np.arange(classes, dtype=np.int64), sizes)",
             "x = centres[y] + noise * rng.standard_normal((n, features))",
             "order = rng.permutation(len(y))",
             "x, y = x[order], y[order]")
    elif isinstance(data, RegressionData):
        code(f"n, features, noise = {data.n_samples}, {data.features}, {literal(float(data.noise))}",
             "w = rng.standard_normal(features)",
             "x = rng.standard_normal((n, features))",
             "eps = rng.standard_normal(n)",
             "y = (x @ w + noise * eps).reshape(-1, 1)")
    elif isinstance(data, ShapesData):
        code(f"n, size, channels = {data.n_samples}, {data.size}, {data.channels}",
             f"classes, noise = {data.classes}, {literal(float(data.noise))}",
             "x, y = draw_shapes(rng, n, size, channels, classes, noise)")
    elif isinstance(data, ShapeMasksData):  # runtime.data: the shapes of classes − 1 classes, their masks
        code(f"n, size, channels = {data.n_samples}, {data.size}, {data.channels}",
             f"classes, noise = {data.classes}, {literal(float(data.noise))}",
             "x, _, y = draw_shapes(rng, n, size, channels, classes - 1, noise, masks=True)")
    else:  # pragma: no cover - the IR has no other kind
        raise EmitError(f"no generator for data {data.kind!r}")


def _format_labels(code: Code, spec: Spec, general: bool) -> None:
    """``format_labels(y, dtype)``: ``runtime.data.format_targets`` for this loss and output, without its
    checks. ``general``: the labels come from a user's file, so every accepted form is handled."""
    format_labels(code, spec.training.loss.kind, tuple(spec.output_shape), general)


def format_labels(code: Code, loss: str, out: tuple, general: bool, name: str = "format_labels") -> None:
    """``name(y, dtype)``: the labels of an output of shape ``out`` as ``loss`` takes them (see
    ``_format_labels``; a model of several outputs has one such function per output)."""
    units, lead = out[-1], out[:-1]
    n_labels = math.prod(lead)
    labels = "y.reshape(" + ", ".join(["len(y)", *map(str, lead)]) + ")"
    full = "y.reshape(" + ", ".join(["len(y)", *map(str, out)]) + ")"
    with code.block(f"def {name}(y, dtype):"):
        if loss == "sparse_categorical_crossentropy":
            code.docstring("Class indices (int64), as sparse_categorical_crossentropy takes them.")
            if general and units > 1:
                with code.block(f"if y.ndim >= 2 and y.shape[1:] == {literal(out)}:  # one-hot rows"):
                    code("y = y.argmax(axis=-1)")
            code(f"return {labels}.astype(np.int64)")
        elif loss == "categorical_crossentropy":
            code.docstring(f"One-hot rows of {units}, as categorical_crossentropy takes them.")
            if general:
                with code.block(f"if y.ndim >= 2 and y.shape[1:] == {literal(out)}:  # already one-hot"):
                    code("return y.astype(dtype)")
            code(f"return np.eye({units}, dtype=dtype)[{labels}.astype(np.int64)]")
        elif loss == "binary_crossentropy":
            code.docstring("0/1 floats shaped like the output, as binary_crossentropy takes them.")
            code(f"return {full}.astype(dtype)")
        else:
            code.docstring(f"Real-valued targets shaped like the output, for {loss} (class labels one-hot).")
            if general and units > 1:
                with code.block(f"if y.size == len(y) * {n_labels}:  # class labels"):
                    code(f"return np.eye({units}, dtype=dtype)[{labels}.astype(np.int64)]")
                code(f"return {full}.astype(dtype)")
            elif not general and units * n_labels > 1 and units > 1 and n_labels == 1:
                # a bundled or generated set has one value per sample: a class label to encode
                code(f"return np.eye({units}, dtype=dtype)[{labels}.astype(np.int64)]")
            else:
                code(f"return {full}.astype(dtype)")


# ---- the learning-rate schedule --------------------------------------------------------------------
def schedule_python(code: Code, schedule) -> None:
    """The body of ``learning_rate(step)``: ``compiler.semantics.schedules.learning_rate``, its formula
    traced into plain Python (tools/emit/formula.py)."""
    rate = Source("LEARNING_RATE", atom=True) * factor(schedule, Source("step", atom=True), PYTHON_SOURCE)
    code(f"return {rate}")


def schedule_keras(code: Code, schedule) -> None:
    """The body of a ``LearningRateSchedule.__call__(step)``: the same formula traced into ``keras.ops``,
    computed in float64 whatever the model's dtype (the optimizer casts the rate to each variable's
    dtype)."""
    code('t = ops.cast(step, "float64")')
    rate = Source("LEARNING_RATE", atom=True) * factor(schedule, Source("t", atom=True), KERAS_SOURCE)
    code(f"return {rate}")


def emit_main(body: Code, spec: Spec, model: str) -> None:
    """The emitted ``main()``: options, build the model with ``model`` (an expression), load data, train, save."""
    data = spec.training.data
    file_data = data is None or data.kind == "file"
    with body.block("def main():"):
        body.call("argparse.ArgumentParser", [f"description={literal(f'Train {spec.name} (emitted by nnspec).')}"],
                  prefix="parser = ")
        body('parser.add_argument("--epochs", type=int, default=EPOCHS)')
        body('parser.add_argument("--dtype", choices=["float32", "float64"], default=DTYPE)')
        if file_data:
            body('parser.add_argument("--data", default=DATA_FILE, help=".npz (x, y) or .csv file")')
        body('parser.add_argument("--save", metavar="FILE.npz", help="write the trained weights")')
        body("args = parser.parse_args()")
        body(f"model = {model}")
        body("data = load_data(args.data, dtype=args.dtype)" if file_data else "data = load_data(dtype=args.dtype)")
        body('print(f"{len(data[0])} training samples, {len(data[2])} for validation")')
        body("train(model, data, epochs=args.epochs)")
        with body.block("if args.save:"):
            body("np.savez(args.save, **get_weights(model))")


def torch_epoch_end(body, es) -> None:
    """The end of an epoch in an emitted PyTorch training loop (inside its ``for epoch`` block): the learning rate
    and the epoch's line into ``history`` and print, then early stopping on ``logs[monitor]`` (``es``, or None)."""
    body('logs["learning_rate"] = learning_rate(step - 1)',
         "history.append(logs)",
         'shown = ", ".join(f"{k} {v:.4g}" for k, v in logs.items())',
         'print(f"epoch {epoch + 1}/{epochs}: {shown}")')
    if es is None:
        return
    mode = es.mode if es.mode != "auto" else ("max" if "acc" in es.monitor else "min")
    body(f"value = {'-' if mode == 'max' else ''}logs[{literal(es.monitor)}]  # mode={mode}")
    better = "value < best" + (f" - {literal(float(es.min_delta))}" if es.min_delta else "")
    with body.block(f"if best_epoch is None or {better}:"):
        body("best, best_epoch, wait = value, epoch, 0")
        if es.restore_best_weights:
            body("best_state = {k: v.clone() for k, v in model.state_dict().items()}")
    with body.block("else:"):
        body("wait += 1")
        with body.block(f"if wait >= {es.patience} and epoch > 0:"):
            body(f'print(f"early stopping: best epoch {{best_epoch + 1}}", {quote(f"({es.monitor})")})')
            body("break")


def torch_fit_end(body, es) -> None:
    """After an emitted PyTorch training loop: the best epoch's weights back when early stopping restores them,
    and ``return history``."""
    if es is not None and es.restore_best_weights:
        with body.block("if best_state is not None:  # the best epoch's weights, also after the last epoch"):
            body("model.load_state_dict(best_state)")
    body("return history")


def data_file_constant(code: Code, data, data_file: "DataFile | None", missing: str) -> None:
    """``DATA_FILE = ...``: the spec's data file (``data``, with its path as ``data_file`` places it: beside the
    program, absolute, or relative to where the program runs), or None with ``missing`` saying what to pass."""
    if data is None:
        code(f"DATA_FILE = None  # the spec names no data: {missing}")
        return
    data_file = data_file or DataFile(data.path)
    if data_file.beside_program:
        code("# The spec's data file, relative to this program's directory; --data FILE overrides it.")
        code.call("os.path.join", ["os.path.dirname(os.path.abspath(__file__))", quote(data_file.path)],
                  prefix="DATA_FILE = ")
    else:
        where = "" if Path(data_file.path).is_absolute() else ", relative to the directory the program runs in"
        code(f"# The spec's data file{where}; --data FILE overrides it.", f"DATA_FILE = {quote(data_file.path)}")
