"""The data a spec trains on: loaded, checked against the model and the loss, and split, before training.

Nothing is downloaded. A spec (or the CLI's ``--data NAME|PATH``) names one of:

- a set bundled with scikit-learn: ``digits`` (1797 × 64 pixel values 0..16, 10 classes), ``iris`` (150 × 4,
  3 classes), ``wine`` (178 × 13, 3 classes), ``breast_cancer`` (569 × 30, 2 classes). Values are left as
  they are (the digits' pixels stay 0..16: specs rescale them with ``Rescaling(1 / 16)``);
- the user's file: ``.npz`` with arrays ``x`` and ``y`` (pickle refused), or ``.csv`` with a header row, numeric
  cells, and the label in the column ``label`` (``file("f.csv", label="y")``), every other column being a
  feature, in file order. Files are read by ``runtime.data_files``: regular files only, within the data
  budget of ``runtime.input_files``, corrupt or hostile files refused with a message;
- a generated set, deterministic from the train section's ``seed`` (``rng = np.random.default_rng(seed)``):

  * ``spirals(n_samples, classes=K, noise)``: class k gets n_k = ⌊N/K⌋ samples (the first N mod K classes
    one more); sample i of class k has t = (i + ½)/n_k, r = t, θ = 2π·(k/K + t) (K interleaved Archimedean
    spirals of one turn each, r from 0 to 1), x = (r·cos θ, r·sin θ) + noise·ε with ε ~ N(0, I₂).
  * ``blobs(n_samples, classes=K, features=F, noise)``: as scikit-learn's make_blobs: centres c_k ~ U[−10, 10]^F,
    class sizes as above, x = c_y + noise·ε with ε ~ N(0, I_F).
  * ``regression(n_samples, features=F, noise)``: w ~ N(0, I_F), x ~ N(0, I_F) per sample, ε ~ N(0, 1),
    y = x·w + noise·ε, shape (N, 1).
  * ``shapes(n_samples, size, channels, classes=K, noise)``: images of size × size × channels with values
    0..255 (uint8; a model rescales them, e.g. ``Rescaling(1 / 255)``), class k a shape (disc, square,
    triangle, plus, ring, horizontal bars, vertical bars, diamond, diagonal cross, frame; k mod 10, in colour
    band ⌊k / 10⌋) of random place, size and colour on a background that differs from it by 96..160 levels
    in every channel, plus integer noise; class sizes as above. ``runtime.shape_images.draw_shapes`` states
    every draw.
  * ``shape_masks(n_samples, size, channels, classes=K, noise)``: the images of ``shapes`` with K − 1 shape
    classes (drawn exactly as ``shapes(..., classes=K − 1)`` draws them, from the same ``rng``), and as the
    target of each image its mask: size × size labels, 0 the background, k + 1 a pixel of the shape of class
    k (uint8). For a per-pixel model (an output of size × size × K with a softmax over the last axis) under
    (sparse_)categorical_crossentropy: the loss is the mean over the batch and the pixels, the accuracy the
    share of pixels labelled right, as Keras computes them.

  Draws come from ``rng`` in the order listed (spirals: ε; blobs: centres, ε; regression: w, x, ε), then the
  samples are put in a random order with ``rng.permutation(N)`` (spirals, blobs and shapes, so no class is
  contiguous).

Checks (each failure is a ``DataError`` whose message is meant for the user, without a traceback): x and y are
numeric, finite and of equal length with at least one sample; x has as many values per sample as the model
input and is reshaped to it row-major (digits' 64 features serve ``Input([64])`` and ``Input([8, 8, 1])``,
where row-major order gives the 8×8 image); y is put in the form the loss needs:

=================================  ==========================================================================
loss                               y
=================================  ==========================================================================
sparse_categorical_crossentropy    int64 class indices, shape (N,); a strictly one-hot y is turned into indices
categorical_crossentropy           float one-hot, shape (N, C); integer labels are one-hot encoded; a y already
                                   of shape (N, C) is accepted if each row is a distribution (≥ 0, sum 1)
binary_crossentropy                float 0/1, shape (N, 1) (or (N, C) for C independent 0/1 outputs)
mse, mae                           float, shape (N, C); a 1-D y becomes (N, 1); integer class labels with
                                   C > 1 are one-hot encoded
=================================  ==========================================================================

C is the model's output units (the last axis of its output). Class labels must be integers in 0..C−1
(0 or 1 for binary_crossentropy). Sample numbers in messages count from 0, as numpy indexes.

Several inputs or outputs (``Spec.multi_io``): x and y are ``runtime.named_arrays.NamedArrays``, one array per
Input (keyed by the Input's name) and per output (keyed by its output key), from named data:

- ``npz("f.npz", x={image: "images", meta: "meta"}, y={digit: "labels", ink: "ink"})``: each key takes that
  array of the archive; ``csv("f.csv", x={a: ["c1", "c2"], b: "c3"}, y={digit: "label"})``: each key takes those
  columns, in that order, as features (a target of one column is that column). ``x="images"`` (a string, no
  dict) serves the model's only input; the same for y. One-input, one-output models may use them too (x
  and y are then plain arrays).
- ``two_tasks(n_samples, noise)``: scikit-learn's digits as ``image`` (8×8×1, 0..16) and ``meta`` (3 features:
  m + noise·ε₁, r/8 + noise·ε₂, c/8 + noise·ε₃ with m the mean pixel value / 16 and (r, c) the centre of mass
  of the ink, rows and columns from 0), targets ``digit`` (the class) and ``ink`` (m, exact); the first
  n_samples of a ``rng.permutation(1797)`` (drawn first), then ε ~ N(0, I₃) for those samples.

Every input and output key must be given an array (and no other key), each checked, reshaped and formatted as
above against its own Input shape, output shape and loss; every array needs the same number of samples. The
split, the batch order and the batches take the same rows of every array.

Validation split: with ``validation_split`` > 0 the samples are shuffled once with
``np.random.default_rng(seed).permutation(N)`` and the LAST n_val = int(round(N · split)) of the shuffled order
are the validation set. Unlike Keras, which takes the last fraction of the data unshuffled, nnspec shuffles
first: iris is sorted by class, so Keras' way would validate on one class only. With split 0 the data keep
their order (the training loop shuffles every epoch) and the validation arrays have 0 rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.data_files import DataFileError, read_data_file, read_named_arrays
from runtime.input_files import InputFileError, budget_hint, data_budget, describe_bytes
from compiler.ir.training import (BUILTIN_DATASETS, NAMED_DATA_CLASSES, SYNTHETIC_CLASSES, BlobsData, BuiltinData,
                                  FileData, NamedFileData, RegressionData, ShapeMasksData, ShapesData, SpiralsData,
                                  TwoTasksData)
from runtime.named_arrays import NamedArrays
from runtime.shape_images import draw_shapes
from spec_lang.diagnostics import did_you_mean
from spec_lang.printable import printable

BUILTIN_SAMPLES = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569}
FILE_SUFFIXES = (".npz", ".csv")


class DataError(Exception):
    """Data that cannot be trained on; ``str(error)`` is the whole message, shown without a traceback."""


@dataclass
class Dataset:
    """Training and validation arrays, ready for the model and the loss (see the module docstring).

    ``x_*`` have shape (n, *spec.input_shape); ``y_*`` the loss' form. The validation arrays have 0 rows when
    the split is 0. ``classes`` is the number of classes for a classification target, else None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    name: str
    classes: int | None

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return len(self.x_val)


# ---- naming the data ---------------------------------------------------------------------------
def resolve_data(data) -> BuiltinData | FileData | SpiralsData | BlobsData | RegressionData | ShapesData \
        | ShapeMasksData:
    """A data IR node from an IR node, a path, or the CLI's ``--data`` text: a bundled name, a generated
    name (its defaults), or a path (anything with a suffix or a directory part); a generated name with
    arguments (``shapes(size=8)``) is refused with where arguments go."""
    if isinstance(data, (BuiltinData, FileData, NamedFileData, *SYNTHETIC_CLASSES.values(),
                         *NAMED_DATA_CLASSES.values())):
        return data
    if isinstance(data, Path):
        return FileData(path=str(data))
    if not isinstance(data, str):
        raise DataError(f"data: expected a data set name or a file path, not {type(data).__name__}")
    text = data.strip()
    if text in BUILTIN_DATASETS:
        return BuiltinData(name=text)
    if text in SYNTHETIC_CLASSES:
        return SYNTHETIC_CLASSES[text]()
    if text in NAMED_DATA_CLASSES:
        return NAMED_DATA_CLASSES[text]()
    if not text:
        raise DataError("data: the data set name is empty")
    called = text.split("(", 1)[0].strip()
    if "(" in text and called in (*SYNTHETIC_CLASSES, "file") and Path(text).suffix.lower() not in (".npz", ".csv"):
        raise DataError(f"data '{text}': a data set's arguments go in the spec's train section (data = "
                        f"{called}(...)); --data takes a name ({called} with its defaults) or a .npz/.csv file")
    path = Path(text)
    if path.suffix or len(path.parts) > 1 or text.startswith("."):
        return FileData(path=text)
    names = (*BUILTIN_DATASETS, *SYNTHETIC_CLASSES)
    hint = did_you_mean(text, names)
    raise DataError(f"data '{text}' is neither a bundled data set ({', '.join(BUILTIN_DATASETS)}), a generated one "
                    f"({', '.join(SYNTHETIC_CLASSES)}) nor a .npz/.csv file" + (f"; {hint}" if hint else ""))


def describe_data(data) -> str:
    """One line naming the data, for messages and logs: ``digits (scikit-learn: 1797 samples, 64 features,
    10 classes)``, ``file 'x.csv' (label column 'y')``, ``spirals(n_samples=1500, classes=3, noise=0.1)``."""
    if data is None:
        return "no data"
    data = resolve_data(data)
    if isinstance(data, BuiltinData):
        features, classes = BUILTIN_DATASETS[data.name]
        return (f"{data.name} (scikit-learn: {BUILTIN_SAMPLES[data.name]} samples, {features} features, "
                f"{classes} classes)")
    if isinstance(data, NamedFileData):
        groups = ", ".join(f"{side}={{" + ", ".join(f"{g.key or '-'}: {'/'.join(g.names)}" for g in gs) + "}"
                           for side, gs in (("x", data.x), ("y", data.y)))
        return f"{data.kind} file '{data.path}' ({groups})"
    if isinstance(data, FileData):
        if Path(data.path).suffix.lower() == ".csv":
            return f"file '{data.path}' (label column '{data.label}')"
        return f"file '{data.path}'"
    args = ", ".join(f"{k}={getattr(data, k):g}" if isinstance(getattr(data, k), float) else f"{k}={getattr(data, k)}"
                     for k in type(data).model_fields if k not in ("kind", "span"))
    return f"{data.kind}({args})"


def _short_name(data) -> str:
    if isinstance(data, BuiltinData):
        return data.name
    if isinstance(data, (FileData, NamedFileData)):
        return data.path
    return data.kind


# ---- the entry point --------------------------------------------------------------------------
def load_dataset(spec, *, data=None, base_dir: Path = Path("."), dtype=np.float32) -> Dataset:
    """Load, check, format and split the data ``spec`` trains on.

    ``data`` (a name, a path or a data IR node) overrides ``spec.training.data``; a relative file path is
    resolved against ``base_dir`` (the spec's directory). ``dtype`` is x's type (float32; float64 for the
    equivalence runs), and that of a float y. Raises ``DataError`` for anything that cannot be trained on.
    """
    training = spec.training
    if training is None:
        raise DataError("data: the spec has no train section, so there is no loss to prepare the labels for")
    source = data if data is not None else training.data
    if source is None:
        raise DataError("data: no data given; add `data = digits` (a bundled or generated set, or a \"file.npz\") "
                        "to the spec's train section, or pass --data NAME|PATH")
    source = resolve_data(source)
    dtype = np.dtype(dtype)
    if spec.multi_io or isinstance(source, (NamedFileData, TwoTasksData)):
        return _load_named(spec, source, Path(base_dir), dtype)
    if isinstance(source, BuiltinData):
        x, y = _load_builtin(source.name)
    elif isinstance(source, FileData):
        x, y = _load_file(source, Path(base_dir))
    else:
        x, y = generate(source, training.seed)
    _check_arrays(x, y)
    x = _fit_input(x, tuple(spec.input_shape), dtype)
    y, classes = format_targets(y, tuple(spec.output_shape), training.loss.kind, dtype)
    x_train, y_train, x_val, y_val = split(x, y, training.validation_split, training.seed)
    return Dataset(x_train, y_train, x_val, y_val, name=_short_name(source), classes=classes)


# ---- named arrays (several inputs or outputs) ---------------------------------------------------
def _load_named(spec, source, base_dir: Path, dtype: np.dtype) -> Dataset:
    """Named data for ``spec``: one array per input and output key, each checked and formatted, split together.
    A one-input, one-output model gets plain arrays."""
    from compiler.semantics.outputs import heads

    input_keys, output_keys = spec.input_key_names, spec.output_key_names
    if isinstance(source, NamedFileData):
        xs, ys = _read_named(source, base_dir, input_keys, output_keys)
    elif isinstance(source, TwoTasksData):
        xs, ys = generate_two_tasks(source, spec.training.seed)
    else:
        raise DataError(f"data: the model has {_count(input_keys, 'input')} ({', '.join(input_keys)}) and "
                        f"{_count(output_keys, 'output')} ({', '.join(output_keys)}); {describe_data(source)} has one "
                        "array x and one y. Name an array for each: npz(\"f.npz\", x={...}, y={...}) or csv(...)")
    _check_keys("x", xs, input_keys, "input")
    _check_keys("y", ys, output_keys, "output")
    for name, a in [*((f"x['{k}']", a) for k, a in xs.items()), *((f"y['{k}']", a) for k, a in ys.items())]:
        _check_array(name, a)  # first: a single value (0 dimensions) has no length
    lengths = {f"x['{k}']": len(a) for k, a in xs.items()} | {f"y['{k}']": len(a) for k, a in ys.items()}
    if len(set(lengths.values())) > 1:
        first = next(iter(lengths))
        other = next(k for k, n in lengths.items() if n != lengths[first])
        raise DataError(f"data: {first} has {lengths[first]} samples but {other} has {lengths[other]}")
    if next(iter(lengths.values())) == 0:
        raise DataError("data: the data set has no samples (its arrays have 0 rows)")
    x = {}
    for layer in spec.input_layers:
        x[layer.name] = _renamed(lambda: _fit_input(xs[layer.name], tuple(layer.output_shape), dtype), "x", layer.name)
    y, classes = {}, None
    for head in heads(spec):
        shape = tuple(spec.layers[head.layer].output_shape)
        y[head.key], c = _renamed(lambda: format_targets(ys[head.key], shape, head.loss.kind, dtype), "y", head.key)
        classes = c if head.index == 0 else classes
    t = spec.training
    if not spec.multi_io:  # one input, one output given as named arrays: plain arrays
        x_train, y_train, x_val, y_val = split(next(iter(x.values())), next(iter(y.values())),
                                               t.validation_split, t.seed)
    else:
        x_train, y_train, x_val, y_val = split(NamedArrays(x), NamedArrays(y), t.validation_split, t.seed)
    return Dataset(x_train, y_train, x_val, y_val, name=_short_name(source), classes=classes)


def _count(keys, noun: str) -> str:
    return f"{len(keys)} {noun}{'s' if len(keys) != 1 else ''}"


def _read_named(source: NamedFileData, base_dir: Path, input_keys, output_keys):
    """({input key: array}, {output key: array}) from an npz/csv file: a group's key "" is the only input
    (output); a csv group of several columns is an (N, columns) array, of one column that column."""
    groups = {"x": _keyed(source.x, input_keys, "x", "input"), "y": _keyed(source.y, output_keys, "y", "output")}
    wanted = list(dict.fromkeys(name for side in groups.values() for g in side.values() for name in g.names))
    try:
        arrays = read_named_arrays(source.kind, source.path, wanted, base_dir)
    except DataFileError as exc:
        raise DataError(str(exc)) from None
    out = []
    for side in ("x", "y"):
        out.append({key: arrays[g.names[0]] if len(g.names) == 1 else np.stack([arrays[n] for n in g.names], axis=1)
                    for key, g in groups[side].items()})
    return out[0], out[1]


def _keyed(groups, keys, side: str, noun: str) -> dict:
    """The groups by model key; "" (a string written without a dict) is the only input (output)."""
    out = {}
    for g in groups:
        key = g.key
        if key == "":
            if len(keys) != 1:
                shown = printable(g.names[0], 40)
                raise DataError(f"data: {side}=\"{shown}\" serves a model with one {noun}, but this one has "
                                f"{_count(keys, noun)} ({', '.join(keys)}); give a dict: {side}={{{keys[0]}: ...}}")
            key = keys[0]
        out[key] = g
    return out


def _check_keys(side: str, arrays: dict, keys, noun: str) -> None:
    for key in arrays:
        if key not in keys:
            hint = did_you_mean(key, list(keys))
            raise DataError(f"data: {side} names '{key}', which is no {noun} of the model (its {noun}s: "
                            f"{', '.join(keys)})" + (f"; {hint}" if hint else ""))
    for key in keys:
        if key not in arrays:
            raise DataError(f"data: the model's {noun} '{key}' has no array: add {key}: ... to the data's {side}")


def _check_array(name: str, a: np.ndarray) -> None:
    if a.dtype.kind not in "biuf":
        what = "Python objects" if a.dtype.kind == "O" else f"values of dtype {a.dtype}"
        raise DataError(f"data: {name} holds {what}; it must hold real numbers")
    if a.ndim == 0:
        raise DataError(f"data: {name} is a single value; it needs one row per sample")
    try:
        _check_finite("x", a)
    except DataError as exc:
        raise DataError(str(exc).replace("data: x ", f"data: {name} ", 1)) from None


def _renamed(load, side: str, key: str):
    """``load()``, its ``DataError`` naming the array ``side['key']`` instead of ``side``."""
    try:
        return load()
    except DataError as exc:
        raise DataError(str(exc).replace(f"data: {side} ", f"data: {side}['{key}'] ", 1)) from None


def generate_two_tasks(data: TwoTasksData, seed: int) -> tuple[dict, dict]:
    """``two_tasks``' arrays (module docstring): ({image, meta}, {digit, ink}), float64 / int64."""
    images, labels = _load_builtin("digits")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))[:data.n_samples]
    images, labels = images[order], labels[order]
    grid = images.reshape(-1, 8, 8)
    ink = images.mean(axis=1) / 16
    total = np.maximum(grid.sum(axis=(1, 2)), 1e-12)
    row = (grid.sum(axis=2) * np.arange(8)).sum(axis=1) / total / 8
    col = (grid.sum(axis=1) * np.arange(8)).sum(axis=1) / total / 8
    meta = np.stack([ink, row, col], axis=1) + data.noise * rng.standard_normal((len(labels), 3))
    return ({"image": images.reshape(-1, 8, 8, 1), "meta": meta},
            {"digit": labels.astype(np.int64), "ink": ink.reshape(-1, 1)})


# ---- sources ---------------------------------------------------------------------------------
def _load_builtin(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn import datasets
    except ImportError:  # pragma: no cover - scikit-learn is a dependency of training
        raise DataError(f"data set {name} ships with scikit-learn, which is not installed: "
                        "pip install scikit-learn") from None
    bunch = getattr(datasets, f"load_{name}")()
    return np.asarray(bunch.data), np.asarray(bunch.target)


def _load_file(data: FileData, base_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        return read_data_file(data.path, data.label, base_dir)
    except DataFileError as exc:
        raise DataError(str(exc)) from None


# ---- generators ------------------------------------------------------------------------------
def _class_sizes(n: int, classes: int) -> list[int]:
    return [n // classes + (1 if k < n % classes else 0) for k in range(classes)]


def generated_bytes(data: SpiralsData | BlobsData | RegressionData | ShapesData | ShapeMasksData) -> int:
    """The bytes a generated set takes: x in float64 (n_samples × features) and y (one 8-byte value a sample),
    with the same again for the shuffled copy ``generate`` returns. Shapes' x is uint8 (1 byte a value), and
    the float32 copy that training makes of it is counted too: n_samples × (2 + 4) bytes a value, plus y.
    Shape masks' y is one label a pixel: uint8 twice (drawn, shuffled), int64 once (the labels), and the
    one-hot float32 rows a categorical loss makes of it (4 bytes a class): size² × (2 + 8 + 4·classes) a
    sample."""
    if isinstance(data, ShapeMasksData):
        return data.n_samples * (6 * data.features + data.size ** 2 * (2 + 8 + 4 * data.classes))
    if isinstance(data, ShapesData):
        return data.n_samples * (6 * data.features + 2 * 8)
    return 2 * data.n_samples * (data.features + 1) * 8


def generate(data: SpiralsData | BlobsData | RegressionData | ShapesData | ShapeMasksData,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A generated set's (x, y) in float64 (shapes' x: uint8) / int64 (shape masks' y: uint8 labels, one a pixel),
    from ``np.random.default_rng(seed)``
    (module docstring).
    ``DataError`` before anything is allocated when the set would not fit the data budget."""
    try:
        budget = data_budget()
    except InputFileError as exc:
        raise DataError(str(exc)) from None
    if generated_bytes(data) > budget:
        raise DataError(f"data: {describe_data(data)} would take {describe_bytes(generated_bytes(data))}, "
                        f"more than {budget_hint(budget)}")
    classes = getattr(data, "classes", 1)  # one centre, one loop step a class: bounded by the samples
    if classes > data.n_samples:
        raise DataError(f"data: {describe_data(data)} has more classes ({classes}) than samples "
                        f"({data.n_samples}); every class needs a sample")
    with np.errstate(over="ignore"):  # a huge noise gives inf, which the caller's finiteness check names
        return _generate(data, seed)


def _generate(data: SpiralsData | BlobsData | RegressionData | ShapesData | ShapeMasksData,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if isinstance(data, ShapeMasksData):  # the shapes of classes − 1 classes; the target is each image's mask
        x, _, masks = draw_shapes(rng, data.n_samples, data.size, data.channels, data.classes - 1, data.noise,
                                  masks=True)
        return x, masks
    if isinstance(data, ShapesData):
        return draw_shapes(rng, data.n_samples, data.size, data.channels, data.classes, data.noise)
    if isinstance(data, SpiralsData):
        parts_x, parts_y = [], []
        for k, n_k in enumerate(_class_sizes(data.n_samples, data.classes)):
            t = (np.arange(n_k) + 0.5) / max(n_k, 1)
            theta = 2 * math.pi * (k / data.classes + t)
            parts_x.append(np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1))
            parts_y.append(np.full(n_k, k, dtype=np.int64))
        x, y = np.concatenate(parts_x), np.concatenate(parts_y)
        x = x + data.noise * rng.standard_normal(x.shape)
    elif isinstance(data, BlobsData):
        centres = rng.uniform(-10.0, 10.0, size=(data.classes, data.features))
        y = np.repeat(np.arange(data.classes, dtype=np.int64), _class_sizes(data.n_samples, data.classes))
        x = centres[y] + data.noise * rng.standard_normal((data.n_samples, data.features))
    elif isinstance(data, RegressionData):
        w = rng.standard_normal(data.features)
        x = rng.standard_normal((data.n_samples, data.features))
        eps = rng.standard_normal(data.n_samples)
        return x, (x @ w + data.noise * eps).reshape(-1, 1)
    else:
        raise DataError(f"data: {type(data).__name__} is not a generated data set")
    order = rng.permutation(len(y))
    return x[order], y[order]


# ---- checks and formatting --------------------------------------------------------------------
def _check_arrays(x, y) -> None:
    for name, a in (("x", x), ("y", y)):
        if a.dtype.kind not in "biuf":
            what = "Python objects" if a.dtype.kind == "O" else f"values of dtype {a.dtype}"
            raise DataError(f"data: {name} holds {what}; it must hold real numbers")
        if a.ndim == 0:
            raise DataError(f"data: {name} is a single value; it needs one row per sample")
    if len(x) == 0:
        raise DataError("data: the data set has no samples (x has 0 rows)")
    if len(x) != len(y):
        raise DataError(f"data: x has {len(x)} samples but y has {len(y)}")
    for name, a in (("x", x), ("y", y)):
        _check_finite(name, a)


def _check_finite(name: str, a: np.ndarray, dtype: np.dtype | None = None) -> None:
    if a.dtype.kind != "f":
        return
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[0]
        value = a[tuple(where)]
        sample = int(where[0]) if a.ndim else 0
        if dtype is not None:
            raise DataError(f"data: {name} holds a value too large for {dtype} (first at sample {sample})")
        raise DataError(f"data: {name} contains {'NaN' if np.isnan(value) else 'inf'} (first at sample {sample})")


def _fit_input(x: np.ndarray, input_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    n = len(x)
    per_sample = int(np.prod(x.shape[1:], dtype=np.int64))
    needed = int(np.prod(input_shape, dtype=np.int64))
    if per_sample != needed:
        if x.ndim <= 2:
            has = f"{per_sample} feature{'s' if per_sample != 1 else ''} per sample"
        else:
            has = f"samples of shape {list(x.shape[1:])} ({per_sample} values)"
        raise DataError(f"data: x has {has} but the model input {list(input_shape)} needs {needed}")
    x = x.reshape((n, *input_shape))
    if x.dtype != dtype:
        with np.errstate(over="ignore", invalid="ignore"):
            x = x.astype(dtype)
        _check_finite("x", x, dtype)
    return x


def _first_non_integer(y: np.ndarray) -> tuple[int, float] | None:
    """(sample, value) of the first value of ``y`` that is not a whole number, or None."""
    if y.dtype.kind != "f":
        return None
    flat = y.reshape(len(y), -1)
    bad = flat != np.round(flat)
    if not bad.any():
        return None
    sample, col = np.argwhere(bad)[0]
    return int(sample), float(flat[sample, col])


def _label_text(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _check_labels(y: np.ndarray, classes: int, loss: str) -> np.ndarray:
    """Integer class labels in 0..classes−1, as int64."""
    bad = _first_non_integer(y)
    if bad is not None:
        wanted = "0 or 1" if loss == "binary_crossentropy" else f"integer class labels 0..{classes - 1}"
        raise DataError(f"data: label {_label_text(bad[1])} at sample {bad[0]} is not a class index; {loss} needs "
                        f"{wanted}")
    out_of_range = (y < 0) | (y >= classes)
    if out_of_range.any():
        where = tuple(np.argwhere(out_of_range)[0])
        value = y[where]
        if loss == "binary_crossentropy":
            raise DataError(f"data: label {_label_text(value)} at sample {where[0]} is outside the 2 classes "
                            f"binary_crossentropy takes (0 or 1)")
        span = f"0..{classes - 1}" if classes > 1 else "only 0"
        raise DataError(f"data: label {_label_text(value)} at sample {where[0]} is outside the {classes} class"
                        f"{'es' if classes != 1 else ''} the model outputs ({span})")
    return y.astype(np.int64)


def _is_one_hot(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0, 1)).all() and (y.sum(axis=-1) == 1).all())


def format_targets(y: np.ndarray, output_shape: tuple[int, ...], loss: str,
                   dtype=np.float32) -> tuple[np.ndarray, int | None]:
    """``y`` in the form ``loss`` needs for a model with ``output_shape`` (see the module docstring), and the
    number of classes (None for a regression target)."""
    dtype = np.dtype(dtype)
    n = len(y)
    units = output_shape[-1]
    lead = output_shape[:-1]  # a model whose output has more than one axis: labels per position
    n_labels = int(np.prod(lead, dtype=np.int64))
    n_out = n_labels * units
    per_sample = int(np.prod(y.shape[1:], dtype=np.int64))
    full_shaped = y.ndim >= 2 and tuple(y.shape[1:]) == output_shape
    if loss == "sparse_categorical_crossentropy":
        if full_shaped and units > 1 and y.dtype.kind in "biuf" and _is_one_hot(y):
            return np.argmax(y, axis=-1).astype(np.int64), units
        if per_sample != n_labels:
            raise DataError(f"data: y has {per_sample} values per sample but {loss} needs one class index per "
                            f"{'sample' if not lead else 'output position'} ({n_labels}), for the model output "
                            f"{list(output_shape)}" + (f" (or a one-hot row of {units})" if not lead else ""))
        return _check_labels(y.reshape((n, *lead)), units, loss), units
    if loss == "categorical_crossentropy":
        if full_shaped and units > 1:
            rows = y.reshape(-1, units).astype(np.float64)
            sums = rows.sum(axis=1)
            bad = np.flatnonzero((rows < 0).any(axis=1) | (rows > 1).any(axis=1) | (np.abs(sums - 1) > 1e-4))
            if bad.size:
                sample = int(bad[0]) // max(n_labels, 1)
                raise DataError(f"data: y has the model's output shape {list(output_shape)} but is not one-hot: "
                                f"the row at sample {sample} is not ≥ 0 with sum 1 (it sums to {sums[bad[0]]:g})")
            return y.astype(dtype), units
        if per_sample != n_labels:
            raise DataError(f"data: y has {per_sample} values per sample but {loss} with the model output "
                            f"{list(output_shape)} needs one class index or a one-hot row of {units}")
        labels = _check_labels(y.reshape((n, *lead)), units, loss)
        return np.eye(units, dtype=dtype)[labels], units
    if loss == "binary_crossentropy":
        if per_sample != n_out:
            hint = ("; end the model with Dense(1, activation=sigmoid), or use sparse_categorical_crossentropy"
                    if per_sample == n_labels else "")
            raise DataError(f"data: y has {per_sample} values per sample but binary_crossentropy with the model "
                            f"output {list(output_shape)} needs {n_out} (0/1 labels){hint}")
        y = y.reshape((n, *output_shape))
        _check_labels(y, 2, loss)
        return y.astype(dtype), 2
    # mse, mae: real-valued targets
    if per_sample == n_out:
        return y.reshape((n, *output_shape)).astype(dtype), None
    if per_sample == n_labels and units > 1:
        if _first_non_integer(y) is not None or y.dtype.kind == "b":
            raise DataError(f"data: y has {per_sample} value{'s' if per_sample != 1 else ''} per sample but the "
                            f"model output {list(output_shape)} needs {n_out} (integer class labels "
                            f"0..{units - 1} would be one-hot encoded)")
        labels = _check_labels(y.reshape((n, *lead)), units, loss)
        return np.eye(units, dtype=dtype)[labels], units
    raise DataError(f"data: y has {per_sample} value{'s' if per_sample != 1 else ''} per sample but the model "
                    f"output {list(output_shape)} needs {n_out}")


# ---- the split ----------------------------------------------------------------------------------
def split(x: np.ndarray, y: np.ndarray, validation_split: float, seed: int):
    """(x_train, y_train, x_val, y_val): shuffle once with ``default_rng(seed)``, validate on the last
    int(round(N · split)); split 0 keeps the order and gives 0-row validation arrays. ``x`` and ``y`` may be
    ``NamedArrays``: every array takes the same rows."""
    n = len(x)
    if validation_split <= 0:
        return x, y, x[:0], y[:0]
    n_val = int(round(n * validation_split))
    if n_val == 0:
        raise DataError(f"data: validation_split {validation_split:g} of {n} samples leaves no validation samples "
                        f"(round({n} × {validation_split:g}) = 0); raise the split or use more data")
    if n_val >= n:
        raise DataError(f"data: validation_split {validation_split:g} of {n} samples leaves no training samples; "
                        "lower the split or use more data")
    order = np.random.default_rng(seed).permutation(n)
    x, y = x[order], y[order]
    return x[: n - n_val], y[: n - n_val], x[n - n_val:], y[n - n_val:]


__all__ = ["DataError", "Dataset", "describe_data", "format_targets", "generate", "load_dataset", "resolve_data",
           "split"]
