"""Several inputs and several outputs (compiler.semantics.outputs, runtime.data's named arrays).

- the train section's per-output settings: errors with their line and column (a key that is no output, an
  output without a loss, a list of metrics that does not give one per output, dicts without output lines, an
  early-stopping monitor that is not recorded);
- named data: npz arrays and csv column groups by input and output key, their errors, the split taking the
  same rows of every array;
- the loss Keras computes: keras.Model.compile(loss={...}, loss_weights={...}).evaluate on the same weights
  gives the total and every <key>_loss the NumPy trainer gives, and Keras' fit records the history names ours
  does;
- canonical float64 equivalence of the three backends on specs/two_tasks.nns, step for step, per output;
- a run stopped and resumed, early stopping on one output's metric; the emitted PyTorch and Keras programs
  training as nnspec does.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest

from compiler.pipeline import compile_file, compile_text
from compiler.semantics.outputs import heads, recorded_names
from runtime.data import DataError, load_dataset
from runtime.loop import fit
from runtime.named_arrays import NamedArrays
from runtime.trainers import make_trainer
from spec_lang.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

MODEL = """model two {
    a = Input([4])
    b = Input([2])
    left = Dense(5, activation=tanh)(a)
    Concatenate()(left, b)
    shared = Dense(6, activation=relu)
    output label = Dense(3, activation=softmax)(shared)
    output value = Dense(2)(shared)
}
"""


def spec_of(train: str, model: str = MODEL):
    return compile_text(model + "train {\n" + train + "\n}\n", "two.nns").spec


def errors(train: str, model: str = MODEL) -> list[tuple[int, int, str, str | None]]:
    """(line, column, message, hint) of every error compiling the model with this train section."""
    with pytest.raises(SpecError) as info:
        compile_text(model + "train {\n" + train + "\n}\n", "two.nns")
    return [(d.span.line, d.span.column, d.message, d.hint) for d in info.value.diagnostics]


TRAIN = "optimizer = sgd\n"
FIRST = MODEL.count("\n") + 2  # the line of the train section's first setting


# ---- the language ----------------------------------------------------------------------------------------
def test_per_output_settings_reach_the_heads():
    spec = spec_of("loss = {label: sparse_categorical_crossentropy, value: mse}\n"
                   "loss_weights = {value: 0.25}\nmetrics = {label: [accuracy], value: mae}\n" + TRAIN)
    assert spec.output_keys == ("label", "value") and spec.input_key_names == ("a", "b")
    got = [(h.key, h.loss.kind, h.weight, h.metrics) for h in heads(spec)]
    assert got == [("label", "sparse_categorical_crossentropy", 1.0, ("accuracy",)), ("value", "mse", 0.25, ("mae",))]
    assert recorded_names(spec) == ["label_loss", "label_accuracy", "value_loss", "value_mae"]


def test_one_loss_serves_every_output_and_a_list_of_metrics_one_per_output():
    spec = spec_of("loss = mse\nmetrics = [mae, rmse]\n" + TRAIN)
    assert [(h.loss.kind, h.metrics) for h in heads(spec)] == [("mse", ("mae",)), ("mse", ("rmse",))]


def test_a_loss_key_that_is_no_output_points_at_the_key_and_names_the_missing_output():
    found = errors("loss = {labl: sparse_categorical_crossentropy, value: mse}\n" + TRAIN)
    assert (FIRST, 9, "loss names 'labl', which is no output", "did you mean 'label'?") in found
    assert any(m == "output 'label' has no loss" and line == FIRST for line, _, m, _ in found)


def test_loss_weights_and_metrics_keys_are_checked():
    found = errors("loss = mse\nloss_weights = {vlaue: 2.0}\nmetrics = {lable: [mae]}\n" + TRAIN)
    assert (FIRST + 1, 17, "loss_weights names 'vlaue', which is no output", "did you mean 'value'?") in found
    assert (FIRST + 2, 12, "metrics names 'lable', which is no output", "did you mean 'label'?") in found


def test_a_negative_loss_weight_is_refused_at_its_value():
    found = errors("loss = mse\nloss_weights = {value: -1}\n" + TRAIN)
    assert [(line, col) for line, col, _, _ in found] == [(FIRST + 1, 24)]
    assert "expected a value >= 0" in found[0][2]


def test_a_list_of_metrics_must_give_one_per_output():
    ((line, col, message, hint),) = errors("loss = mse\nmetrics = [mae]\n" + TRAIN)
    assert (line, col) == (FIRST + 1, 11)
    assert "2 outputs gives one metric per output" in message and "metrics = {label: [mae]}" in hint


ONE = "model one {\n    Input([4])\n    output out = Dense(3, activation=softmax)\n}\n"


def test_a_one_output_model_written_per_key_compiles_to_the_one_output_form():
    spec = spec_of("loss = {out: sparse_categorical_crossentropy}\nmetrics = {out: [accuracy]}\n" + TRAIN, ONE)
    assert (spec.training.loss.kind, spec.training.metrics) == ("sparse_categorical_crossentropy", ("accuracy",))
    assert not spec.multi_io
    ((line, col, message, _),) = errors("loss = mse\nloss_weights = {out: 2.0}\n" + TRAIN, ONE)
    assert (line, col) == (7, 17) and message == "loss_weights weighs the losses of several outputs; this model has one"


def test_dicts_need_output_lines():
    stack = "model one {\n    Input([4])\n    Dense(2)\n}\n"
    ((line, col, message, hint),) = errors("loss = {out: mse}\n" + TRAIN, stack)
    assert (line, col) == (6, 9) and "names no output" in message and "output out = " in hint


def test_early_stopping_monitors_an_output_s_loss_or_metric():
    spec = spec_of("loss = mse\nmetrics = {value: [mae]}\nvalidation_split = 0.5\n"
                   "early_stopping = monitor(val_value_mae)\n" + TRAIN)
    assert spec.training.early_stopping.monitor == "val_value_mae"
    ((_, _, message, hint),) = errors("loss = mse\nearly_stopping = monitor(val_value_los)\n" + TRAIN)
    assert "val_value_los" in message and hint == "did you mean 'val_value_loss'?"


def test_a_value_metric_on_class_indices_is_refused_per_output():
    found = errors("loss = {label: sparse_categorical_crossentropy, value: mse}\n"
                   "metrics = {label: [mae], value: [mae]}\n" + TRAIN)
    assert [m for _, _, m, _ in found] == [
        "metric mae compares the outputs with targets of their shape, but sparse_categorical_crossentropy's "
        "targets are class indices (one per sample)"]


def test_loss_pairings_are_checked_per_output():
    found = errors("loss = {label: binary_crossentropy, value: mse}\n" + TRAIN)
    assert any("binary_crossentropy after a softmax output" in m for _, _, m, _ in found)


def test_named_data_forms_and_their_errors():
    spec = spec_of('loss = mse\ndata = csv("f.csv", x={a: ["c1", "c2", "c3", "c4"], b: ["c5", "c6"]}, '
                   'y={label: "l", value: ["v1", "v2"]})\n' + TRAIN)
    data = spec.training.data
    assert data.kind == "csv" and [g.names for g in data.x] == [("c1", "c2", "c3", "c4"), ("c5", "c6")]
    ((line, col, message, _),) = errors('loss = mse\ndata = npz("f.npz", x=3, y={label: "l"})\n' + TRAIN)
    assert (line, col) == (FIRST + 1, 23) and "expected a dict" in message


def test_data_keys_are_checked_at_compile_time_with_their_caret():
    found = errors('loss = mse\ndata = npz("f.npz", x={a: "p", bb: "q"}, y={label: "l", value: "v"})\n' + TRAIN)
    assert (FIRST + 1, 32, "data x names 'bb', which is no input of the model", "did you mean 'b'?") in found
    assert (FIRST + 1, 24, "data x: the model's input 'b' has no array", "add b: ... to x") in found


# ---- named data --------------------------------------------------------------------------------------------
def arrays(n=30, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 4))
    return {"feat_a": a, "feat_b": rng.standard_normal((n, 2)), "labels": rng.integers(0, 3, n),
            "values": np.stack([a[:, 0], a[:, 1]], axis=1)}


def test_npz_arrays_by_key_are_split_together(tmp_path):
    np.savez(tmp_path / "two.npz", **arrays())
    spec = spec_of('loss = {label: sparse_categorical_crossentropy, value: mse}\nvalidation_split = 0.2\n'
                   'data = npz("two.npz", x={a: "feat_a", b: "feat_b"}, y={label: "labels", value: "values"})\n'
                   + TRAIN)
    ds = load_dataset(spec, base_dir=tmp_path, dtype=np.float64)
    assert isinstance(ds.x_train, NamedArrays) and (ds.n_train, ds.n_val) == (24, 6)
    assert ds.x_train["b"].shape == (24, 2) and ds.y_train["label"].dtype == np.int64
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):  # the same rows of every array
        np.testing.assert_array_equal(x["a"][:, :2], y["value"])
    batch = ds.x_train[np.array([3, 1])]
    np.testing.assert_array_equal(batch["a"], ds.x_train["a"][[3, 1]])


def test_csv_column_groups_by_key(tmp_path):
    data = arrays(8)
    columns = {**{f"a{i}": data["feat_a"][:, i] for i in range(4)}, "b0": data["feat_b"][:, 0],
               "b1": data["feat_b"][:, 1], "label": data["labels"], "v0": data["values"][:, 0],
               "v1": data["values"][:, 1]}
    lines = [",".join(columns)] + [",".join(repr(float(c[i])) for c in columns.values()) for i in range(8)]
    (tmp_path / "two.csv").write_text("\n".join(lines) + "\n")
    spec = spec_of('loss = {label: sparse_categorical_crossentropy, value: mse}\n'
                   'data = csv("two.csv", x={a: ["a0", "a1", "a2", "a3"], b: ["b0", "b1"]}, '
                   'y={label: "label", value: ["v0", "v1"]})\n' + TRAIN)
    ds = load_dataset(spec, base_dir=tmp_path, dtype=np.float64)
    np.testing.assert_array_equal(ds.x_train["a"], data["feat_a"])
    np.testing.assert_array_equal(ds.y_train["label"], data["labels"])
    np.testing.assert_array_equal(ds.y_train["value"], data["values"])


@pytest.mark.parametrize("data, message", [
    ('npz("two.npz", x={a: "feat_b", b: "feat_b"}, y={label: "labels", value: "values"})',
     "data: x['a'] has 2 features per sample but the model input [4] needs 4"),
    ('npz("two.npz", x={a: "feat_a", b: "feat_b"}, y={label: "labels", value: "short"})',
     "data: x['a'] has 30 samples but y['value'] has 5"),
    ("digits", "data: the model has 2 inputs (a, b) and 2 outputs (label, value)"),
])
def test_named_data_errors(tmp_path, data, message):
    np.savez(tmp_path / "two.npz", **arrays(), short=np.zeros((5, 2)))
    spec = spec_of(f"loss = {{label: sparse_categorical_crossentropy, value: mse}}\ndata = {data}\n" + TRAIN)
    with pytest.raises(DataError) as info:
        load_dataset(spec, base_dir=tmp_path)
    assert str(info.value).startswith(message)


def test_a_one_input_one_output_model_takes_named_arrays_as_plain_arrays(tmp_path):
    np.savez(tmp_path / "one.npz", **arrays())
    spec = compile_text('model one {\n    Input([4])\n    Dense(3, activation=softmax)\n}\n'
                        'train { loss = sparse_categorical_crossentropy optimizer = sgd '
                        'data = npz("one.npz", x="feat_a", y="labels") }\n').spec
    ds = load_dataset(spec, base_dir=tmp_path, dtype=np.float64)
    assert isinstance(ds.x_train, np.ndarray) and ds.x_train.shape == (30, 4) and ds.y_train.shape == (30,)


# ---- against Keras ------------------------------------------------------------------------------------------
KERAS_TRAIN = ("loss = {label: sparse_categorical_crossentropy, value: mse}\nloss_weights = {label: 0.5, value: 3.0}\n"
               "metrics = {label: [accuracy], value: [mae]}\nvalidation_split = 0.25\noptimizer = sgd\n"
               "batch_size = 8\n")


def keras_twin(keras, spec, weights):
    """The spec's model written with Keras' functional API by hand, with ``weights``, compiled as Keras would
    be for this train section."""
    a = keras.Input((4,), name="a", dtype="float64")
    b = keras.Input((2,), name="b", dtype="float64")
    dense = {layer.name: layer for layer in spec.layers if layer.kind == "Dense"}
    made = {name: keras.layers.Dense(layer.units, activation=layer.activation.kind, name=name, dtype="float64")
            for name, layer in dense.items()}
    left = made["dense"](a)
    shared = made["dense_1"](keras.layers.Concatenate(dtype="float64")([left, b]))
    model = keras.Model({"a": a, "b": b}, {"label": made["dense_2"](shared), "value": made["dense_3"](shared)})
    for name, layer in made.items():
        layer.set_weights([weights[f"{name}/kernel"], weights[f"{name}/bias"]])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
                  loss_weights={"label": 0.5, "value": 3.0}, metrics={"label": ["accuracy"], "value": ["mae"]})
    return model


def test_the_total_and_each_output_s_loss_are_keras_and_so_are_the_history_names(tmp_path):
    from frameworks import need

    keras = need("keras")
    from keras_oracle import float64

    with float64():
        _compare_with_keras(keras, tmp_path)


def _compare_with_keras(keras, tmp_path):
    np.savez(tmp_path / "two.npz", **arrays(32))
    spec = spec_of(KERAS_TRAIN + 'data = npz("two.npz", x={a: "feat_a", b: "feat_b"}, '
                   'y={label: "labels", value: "values"})\n')
    ds = load_dataset(spec, base_dir=tmp_path, dtype=np.float64)
    trainer = make_trainer("numpy", spec, dtype="float64", mode="canonical")
    model = keras_twin(keras, spec, {k: v.copy() for k, v in trainer.get_weights().items()})
    x, y = {k: ds.x_train[k] for k in ds.x_train.keys()}, {k: ds.y_train[k] for k in ds.y_train.keys()}
    theirs = model.evaluate(x, y, batch_size=len(ds.y_train["label"]), return_dict=True, verbose=0)
    (total, label_loss, value_loss), _ = trainer.evaluate_batch(ds.x_train, ds.y_train)
    assert total == pytest.approx(0.5 * label_loss + 3.0 * value_loss, rel=1e-12)
    assert (total, label_loss, value_loss) == pytest.approx(
        (theirs["loss"], theirs["label_loss"], theirs["value_loss"]), rel=1e-9)
    history = fit(trainer, spec, ds.x_train, ds.y_train, ds.x_val, ds.y_val, epochs=1, seed=0)
    keras_history = model.fit(x, y, epochs=1, batch_size=8, verbose=0,
                              validation_data=({k: ds.x_val[k] for k in ds.x_val.keys()},
                                               {k: ds.y_val[k] for k in ds.y_val.keys()}))
    ours = set(history.epochs[0]) - {"epoch", "learning_rate", "seconds"}
    assert ours == set(keras_history.history)


# ---- the three backends -------------------------------------------------------------------------------------
@contextlib.contextmanager
def at_root():
    with contextlib.chdir(ROOT):
        yield


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_two_tasks_is_equivalent_step_for_step_per_output(backend):
    from frameworks import need
    from tools.equiv import compare, run_canonical

    need(backend)
    with at_root():
        spec = compile_file("specs/two_tasks.nns").spec
        ds = load_dataset(spec, dtype=np.float64)
    x, y = ds.x_train[:96], ds.y_train[:96]
    ref = run_canonical("numpy", spec, x, y, steps=12)
    got = run_canonical(backend, spec, x, y, steps=12)
    result = compare(got, ref, 1e-9)
    assert result.step is None and result.layer is None, result
    assert len(got.output_losses) == 12 and len(got.output_losses[0]) == 2
    assert max(result.weight_errors.values()) <= 1e-9


# ---- the command line: train, stop, resume, early stopping on one output --------------------------------------
RESUMABLE = MODEL.replace("Concatenate()(left, b)", "Concatenate()(left, b)\n    Dropout(0.2)") + """train {
    loss = {label: sparse_categorical_crossentropy, value: mse}
    loss_weights = {value: 0.5}
    metrics = {label: [accuracy], value: [mae]}
    optimizer = adam(learning_rate=0.01)
    batch_size = 8
    epochs = 3
    seed = 4
    validation_split = 0.25
    early_stopping = monitor(val_value_mae, patience=5, restore_best_weights=true)
    data = npz("two.npz", x={a: "feat_a", b: "feat_b"}, y={label: "labels", value: "values"})
}
"""


def test_a_two_output_run_resumes_exactly_and_records_every_output(tmp_path):
    import json

    from resume_cases import sigint_during_step, without_time
    from write_faults import invoke

    np.savez(tmp_path / "two.npz", **arrays(48))
    spec = tmp_path / "two.nns"
    spec.write_text(RESUMABLE)
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    assert invoke("train", spec, "--out", whole, "-q").exit_code == 0
    with sigint_during_step(7):  # inside epoch 2 (5 steps an epoch)
        assert invoke("train", spec, "--out", parted, "-q").exit_code == 130
    result = invoke("train", spec, "--resume", parted, "-q")
    assert result.exit_code == 0, result.output
    epochs = [json.loads((run / "history.json").read_text()) for run in (whole, parted)]
    assert len(epochs[0]) == 3 and without_time(epochs[0]) == without_time(epochs[1])
    assert {"loss", "label_loss", "label_accuracy", "value_loss", "value_mae", "val_value_mae"} <= set(epochs[0][0])
    best = min(range(3), key=lambda i: epochs[0][i]["val_value_mae"]) + 1  # early stopping restores it
    assert json.loads((whole / "run.json").read_text())["weights_epoch"] == best
    with np.load(whole / "weights.npz") as a, np.load(parted / "weights.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ---- emitted programs -----------------------------------------------------------------------------------------
def emitted(tmp_path: Path, spec, backend: str):
    import importlib.util

    from tools.emit import emit_source

    path = tmp_path / f"two_tasks_{backend}.py"
    path.write_text(emit_source(spec, backend), encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(f"two_tasks_{backend}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def float32_exact(spec):
    """The spec with every float rounded to float32: what an emitted Keras program's hyperparameters are."""
    from compiler.ir.spec import Spec

    def walk(value):
        if isinstance(value, float):
            return float(np.float32(value))
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        return value
    return Spec.model_validate(walk(spec.model_dump()))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_emitted_two_output_program_trains_as_nnspec(backend, tmp_path):
    from frameworks import need
    from compiler.semantics.initializers import initial_weights
    from tools.equiv import run_canonical, step_batches

    need(backend)
    with at_root():
        spec = float32_exact(compile_file("specs/two_tasks.nns").spec)
    module = emitted(tmp_path, spec, backend)
    x_train, y_train, _, _ = module.load_data(dtype="float64")
    x = NamedArrays({k: a[:64] for k, a in x_train.items()})
    y = NamedArrays({k: a[:64] for k, a in y_train.items()})
    reference = run_canonical("numpy", spec, x, y, steps=4)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    batches = step_batches(64, spec.training.batch_size, spec.training.seed, 4)
    if backend == "torch":
        model = module.build_model(dtype="float64")
        module.set_weights(model, weights)
        optimizer = module.make_optimizer(model)
        steps = [module.train_step(model, optimizer, x[idx], y[idx], step) for step, idx in enumerate(batches)]
        losses, parts = [s[0] for s in steps], [tuple(s[1].values()) for s in steps]
        np.testing.assert_allclose(parts, reference.output_losses, rtol=1e-9)
    else:
        model = module.compile_model(module.build_model(dtype="float64"))
        model.run_eagerly = True
        module.set_weights(model, weights)
        losses = [module.train_step(model, {k: a[idx] for k, a in x.items()}, {k: a[idx] for k, a in y.items()})
                  for idx in batches]
    np.testing.assert_allclose(losses, reference.losses, rtol=1e-9)
    final = module.get_weights(model)
    for name, w in reference.weights.items():
        np.testing.assert_allclose(final[name], w, rtol=1e-7, atol=1e-9, err_msg=name)


def test_a_normalization_adapts_to_its_own_input_s_array():
    model = MODEL.replace("left = Dense(5, activation=tanh)(a)",
                          "nb = Normalization()(b)\n    left = Dense(5, activation=tanh)(a)")
    spec = spec_of("loss = mse\n" + TRAIN, model.replace("Concatenate()(left, b)", "Concatenate()(left, nb)"))
    rng = np.random.default_rng(1)
    x = NamedArrays({"a": rng.normal(size=(50, 4)), "b": 3.0 + 2.0 * rng.normal(size=(50, 2))})
    trainer = make_trainer("numpy", spec, dtype="float64", mode="canonical", adapt_on=x)
    weights = trainer.get_weights()
    np.testing.assert_allclose(weights["normalization/mean"], x["b"].mean(axis=0))
    np.testing.assert_allclose(weights["normalization/variance"], x["b"].var(axis=0))
