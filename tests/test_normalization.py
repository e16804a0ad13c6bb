"""Normalization: Keras 3.15's layer exactly (formula, adapt's axes and population variance, given statistics,
invert, parameter count), adapted on the training split — never the validation split — before every command
that runs a model, on every backend and in both modes, saved with the weights, not adapted again on resume,
interchangeable across backends; refused where adapting it would be wrong."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from typer.testing import CliRunner

import runtime.adapt
from runtime.trainers import make_trainer
from runtime.adapt import adapted_statistics
from runtime.data import load_dataset
from tools.equiv import relative_error
from compiler.semantics.initializers import initial_weights
from backends.numpy.model import NumpyModel
from runtime.run_dir import load_weights
from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from compiler.pipeline import compile_text
from spec_lang.diagnostics import SpecError
from frameworks import frameworks_required, need

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

runner = CliRunner()
BACKENDS = ["numpy", "torch", "keras"]

# A small model on breast_cancer (features up to 4,254), with a validation split: what adapting must see.
BREAST_CANCER = """model bc {{
    Input([30])
    {normalization}
    Dense(4, activation=relu)
    Dense(1, activation=sigmoid)
}}
train {{
    loss = binary_crossentropy
    optimizer = adam(learning_rate=0.01)
    batch_size = 64
    epochs = 1
    seed = 3
    validation_split = 0.25
    data = breast_cancer
}}
"""


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def needs(backend: str):
    """Skip a backend's case where its framework is missing, except where frameworks are required (CI)."""
    return pytest.mark.skipif(backend != "numpy" and not have(backend) and not frameworks_required(),
                              reason=f"{backend} is not installed (pip install -e '.[{backend}]')")


@pytest.fixture(scope="module")
def bc_spec():
    return compile_text(BREAST_CANCER.format(normalization="Normalization()")).spec


@pytest.fixture(scope="module")
def bc_data(bc_spec):
    return load_dataset(bc_spec, dtype=np.float64)


# ---- Keras' own layer, adapted, against the NumPy reference ------------------------------------------------
KERAS_VARIANTS = {  # spec arguments, Keras arguments, input shape (without batch)
    "features": ("", {}, (30,)),
    "scalar": ("axis=none", {"axis": None}, (7,)),
    "per-channel-image": ("", {}, (4, 5, 3)),
    "per-position-image": ("axis=[1, 2]", {"axis": (1, 2)}, (4, 5, 3)),
    "inverted": ("invert=true", {"invert": True}, (6,)),
    "given-lists": ("mean=[1, -2, 3], variance=[4, 0.5, 0]", {"mean": [1.0, -2.0, 3.0], "variance": [4.0, 0.5, 0.0]},
                    (3,)),
    "given-scalar-inverted": ("mean=2.5, variance=9, invert=true", {"mean": 2.5, "variance": 9.0, "invert": True},
                              (2, 2, 3)),
}


@pytest.fixture(scope="module")
def keras():
    return need("keras")


@pytest.mark.parametrize("variant", sorted(KERAS_VARIANTS))
def test_matches_keras_adapt_outputs_and_parameter_count(variant, keras):
    """Keras' own Normalization, adapted on the same data in float64: the same statistics, outputs and
    parameter count as the NumPy reference, to 1e-12."""
    args, keras_args, shape = KERAS_VARIANTS[variant]
    rng = np.random.default_rng(4)
    scales = rng.uniform(0.01, 1000, size=shape[-1])
    x = rng.normal(50, 1, size=(64, *shape)) * scales + rng.uniform(-100, 100, size=shape[-1])
    x[:, ..., -1] = 7.0 if variant == "features" else x[:, ..., -1]  # a constant feature: ε keeps it finite
    spec = compile_text(f"model m {{ Input({list(shape)}) Normalization({args}) }}").spec
    layer = spec.layers[1]
    theirs = keras.layers.Normalization(dtype="float64", **keras_args)
    if layer.adapts:
        theirs.adapt(x)
    else:
        theirs.build((None, *shape))
    weights = initial_weights(spec, 0, np.float64)
    weights.update(adapted_statistics(spec, weights, x))
    if layer.adapts:
        np.testing.assert_allclose(weights["normalization/mean"], theirs.adapt_mean.numpy(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(weights["normalization/variance"], theirs.adapt_variance.numpy(), rtol=1e-12,
                                   atol=1e-300)
        assert weights["normalization/count"] == x.size // weights["normalization/mean"].size
    assert layer.trainable_params + layer.non_trainable_params == theirs.count_params()
    assert layer.trainable_params == 0
    ours = NumpyModel(spec, weights).predict(x)
    assert relative_error(ours, np.asarray(theirs(x))) <= 1e-12


# ---- adapting: the training split, every backend and mode, every command -----------------------------------
@pytest.mark.parametrize("mode", ["canonical", "native"])
@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs(b)) for b in BACKENDS])
def test_every_backend_and_mode_adapts_on_the_training_split(backend, mode, bc_spec, bc_data):
    trainer = make_trainer(backend, bc_spec, dtype=np.float64, mode=mode, adapt_on=bc_data.x_train)
    weights = trainer.get_weights()
    np.testing.assert_allclose(weights["normalization/mean"], bc_data.x_train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(weights["normalization/variance"], bc_data.x_train.var(axis=0), rtol=1e-12)
    assert float(weights["normalization/count"]) == bc_data.n_train
    everything = np.concatenate([bc_data.x_train, bc_data.x_val])
    assert not np.allclose(weights["normalization/mean"], everything.mean(axis=0), rtol=1e-6)  # no validation data
    out = trainer.evaluate_batch(bc_data.x_train, bc_data.y_train)[1]
    reference = NumpyModel(bc_spec, {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()})
    assert relative_error(out, reference.predict(bc_data.x_train)) <= 1e-9


@pytest.fixture
def adapt_calls(monkeypatch):
    """Every (number of samples) that ``runtime.adapt.adapt_trainer`` adapts on, while it still adapts."""
    calls = []
    real = runtime.adapt.adapt_trainer

    def spy(trainer, spec, x):
        calls.append(len(x))
        return real(trainer, spec, x)

    monkeypatch.setattr(runtime.adapt, "adapt_trainer", spy)
    return calls


COMMANDS = {
    "train": ["train", "{spec}", "-q", "--out", "{tmp}/run"],
    "equiv": ["equiv", "{spec}", "--backends", "numpy", "--steps", "2", "--out", "{tmp}/equiv"],
    "diagnose": ["diagnose", "{spec}", "--batches", "1", "--plot", "{tmp}/d.png"],
    "lr-find": ["lr-find", "{spec}", "--steps", "10", "--plot", "{tmp}/lr.png"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_adapts_on_the_training_split(command, adapt_calls, bc_data, tmp_path):
    spec = tmp_path / "bc.nns"
    spec.write_text(BREAST_CANCER.format(normalization="Normalization()"))
    result = runner.invoke(app, [a.format(spec=spec, tmp=tmp_path) for a in COMMANDS[command]])
    assert result.exit_code == EXIT_OK, result.output
    assert adapt_calls and set(adapt_calls) == {bc_data.n_train}  # 427 of 569: never the validation samples


def test_training_run_saves_the_statistics_it_adapted(bc_data, tmp_path):
    spec = tmp_path / "bc.nns"
    spec.write_text(BREAST_CANCER.format(normalization="Normalization()"))
    assert runner.invoke(app, ["train", str(spec), "-q", "--out", str(tmp_path / "run")]).exit_code == EXIT_OK
    weights = load_weights(tmp_path / "run" / "weights.npz")
    np.testing.assert_allclose(weights["normalization/mean"], bc_data.x_train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(weights["normalization/variance"], bc_data.x_train.var(axis=0), rtol=1e-5)
    assert weights["normalization/count"] == bc_data.n_train


# ---- adapted once: resume and loaded weights keep their statistics -----------------------------------------
@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs(b)) for b in BACKENDS])
def test_adapted_weights_are_not_adapted_again(backend, bc_spec, bc_data):
    """Weights with count > 0 (a checkpoint, a weights.npz) keep their statistics when a trainer is built on
    new data, and load into every backend."""
    weights = initial_weights(bc_spec, 3, np.float64)
    weights["normalization/mean"] = np.arange(30.0)
    weights["normalization/variance"] = np.full(30, 4.0)
    weights["normalization/count"] = np.asarray(12.0)
    trainer = make_trainer(backend, bc_spec, weights=weights, dtype=np.float64, adapt_on=bc_data.x_train)
    got = trainer.get_weights()
    for key in ("normalization/mean", "normalization/variance", "normalization/count"):
        np.testing.assert_array_equal(got[key], weights[key])


def test_resume_keeps_the_checkpoint_statistics(tmp_path, adapt_calls):
    """An interrupted run continues with the statistics it adapted: resuming adapts nothing."""
    spec = tmp_path / "bc.nns"
    spec.write_text(BREAST_CANCER.format(normalization="Normalization()").replace("epochs = 1", "epochs = 2"))
    run = tmp_path / "run"
    first = runner.invoke(app, ["train", str(spec), "-q", "--out", str(run), "--epochs", "1"])
    assert first.exit_code == EXIT_OK, first.output
    before = load_weights(run / "weights.npz")
    calls = len(adapt_calls)
    resumed = runner.invoke(app, ["train", str(spec), "-q", "--resume", str(run), "--epochs", "2"])
    assert resumed.exit_code == EXIT_OK, resumed.output
    after = load_weights(run / "weights.npz")
    assert len(adapt_calls) == calls + 1  # asked, and it found the layer adapted already
    for key in ("normalization/mean", "normalization/variance", "normalization/count"):
        np.testing.assert_array_equal(after[key], before[key])


@pytest.mark.parametrize("target", [pytest.param(b, marks=needs(b)) for b in BACKENDS])
@pytest.mark.parametrize("source", [pytest.param(b, marks=needs(b)) for b in BACKENDS])
def test_weights_interchange_across_backends(source, target, bc_spec, bc_data):
    """Adapted and trained on one backend, loaded into another: the same predictions (float64)."""
    trainer = make_trainer(source, bc_spec, dtype=np.float64, adapt_on=bc_data.x_train)
    for step in range(3):
        trainer.train_batch(bc_data.x_train[:64], bc_data.y_train[:64], step, 0.01)
    weights = trainer.get_weights()
    assert {k: v.dtype for k, v in weights.items()} == {k: np.dtype(np.float64) for k in weights}
    other = make_trainer(target, bc_spec, weights=weights, dtype=np.float64, adapt_on=bc_data.x_val)
    expected = trainer.evaluate_batch(bc_data.x_val, bc_data.y_val)[1]
    assert relative_error(other.evaluate_batch(bc_data.x_val, bc_data.y_val)[1], expected) <= 1e-12  # float64: round-off


# ---- where it may stand, and its arguments --------------------------------------------------------------------
def compile_error(layers: str, shape="[30]") -> str:
    with pytest.raises(SpecError) as info:
        compile_text(f"model m {{ Input({shape}) {layers} Dense(1) }}")
    return str(info.value)


@pytest.mark.parametrize("before", ["Dense(4)", "Dropout(0.1)", "BatchNormalization()", "Conv2D(2, 3) Flatten()",
                                    "SpatialDropout2D(0.1)"])
def test_adapting_after_weights_or_randomness_is_refused(before):
    shape = "[6, 6, 2]" if "2D" in before else "[30]"
    message = compile_error(f"{before} Normalization()", shape)
    assert "must come before any layer with weights or randomness" in message
    assert "give mean=... and variance=..." in message


@pytest.mark.parametrize("before", ["", "Rescaling(0.5)", "Normalization()", "Activation(tanh)",
                                    "MaxPooling2D(2) Flatten()", "GlobalAveragePooling2D()"])
def test_adapting_after_fixed_layers_is_accepted(before):
    shape = "[6, 6, 2]" if "2D" in before else "[30]"
    spec = compile_text(f"model m {{ Input({shape}) {before} Normalization() Dense(1) }}").spec
    assert [layer.kind for layer in spec.layers].count("Normalization") >= 1


def test_given_statistics_may_stand_anywhere():
    spec = compile_text("model m { Input([3]) Dense(2) Normalization(mean=[1, 2], variance=[3, 4]) }").spec
    assert spec.layers[-1].non_trainable_params == 0


@pytest.mark.parametrize("arguments, message", [
    ("mean=[1, 2]", "mean is given without variance"),
    ("variance=2", "variance is given without mean"),
    ("mean=1, variance=-1", "a variance cannot be negative"),
    ("mean=[1, 2], variance=1", "give as many of each"),
    ("mean=[1, 2], variance=[1, 2]", "hold 2 values, but the kept axis 1 of the input (batch, 30) has 30"),
    ("axis=none, mean=[1, 2], variance=[1, 2]", "with axis=none there is one mean and one variance"),
    ("axis=0", "axis 0 is the batch axis"),
    ("axis=2", "axis 2 is outside the input (batch, 30)"),
    ("axis=[1, -1]", "names the same axis twice"),
    ('axis="last"', "expected an integer, a list of integers or none"),
])
def test_bad_arguments_are_errors_at_the_layer(arguments, message):
    text = compile_error(f"Normalization({arguments})")
    assert message in text and "Normalization" in text and "^" in text


@pytest.mark.parametrize("placement", ["Dense(4) Normalization()", "Normalization(axis=0)"])
def test_an_ir_file_breaking_the_rules_is_refused(placement, tmp_path):
    """An IR .json is checked with the compiler's rules: a hostile one gets exit 2 and a message."""
    good = compile_text(f"model m {{ Input([30]) Normalization() Dense(1) }} "
                        "train { loss = mse optimizer = sgd data = breast_cancer }").spec
    layers = list(good.layers)
    if placement.startswith("Dense"):
        layers = [layers[0], layers[2].model_copy(update={"name": "dense_0", "output_shape": (1,)}),
                  layers[1].model_copy(update={"input_shape": (1,), "output_shape": (1,),
                                               "non_trainable_params": 3}), layers[2]]
        layers[3] = layers[3].model_copy(update={"input_shape": (1,), "trainable_params": 2})
    else:
        layers[1] = layers[1].model_copy(update={"axis": 0})
    path = tmp_path / "bad.json"
    path.write_text(good.model_copy(update={"layers": tuple(layers)}).model_dump_json())
    result = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (tmp_path / "run").exists()


# ---- the emitted programs adapt as nnspec does ---------------------------------------------------------------
@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs(b)) for b in ("torch", "keras")])
def test_emitted_program_adapts_on_its_training_split(backend, bc_spec, tmp_path):
    from tools.emit import emit_source

    path = tmp_path / f"bc_{backend}.py"
    path.write_text(emit_source(bc_spec, backend))
    module_spec = importlib.util.spec_from_file_location(f"bc_{backend}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    data = module.load_data(dtype="float64")
    build = module.build_model if backend == "torch" else (lambda **kw: module.compile_model(module.build_model(**kw)))
    model = build(dtype="float64")
    assert float(module.get_weights(model)["normalization/count"]) == 0
    module.train(model, data, epochs=1)
    theirs = module.get_weights(model)
    ours = adapted_statistics(bc_spec, initial_weights(bc_spec, 3, np.float64), data[0])
    for key, value in ours.items():
        np.testing.assert_allclose(np.asarray(theirs[key], dtype=np.float64), value, rtol=1e-12, err_msg=key)
    if backend == "keras":
        import keras

        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("merge, name", [("Add()(x, a)", "add"), ("Concatenate()(x, a)", "concatenate"),
                                         ("Maximum()(x, a)", "maximum")])
def test_an_adapting_normalization_after_a_merge_is_an_error_at_the_layer(merge, name):
    """Adapting runs the chain of single inputs back to one Input; a merge of two values (even of weightless
    ones) is refused where the Normalization stands, not a crash while adapting."""
    text = (f"model m {{\n    x = Input([4])\n    a = Rescaling(2)\n    {merge}\n    Normalization()\n"
            "    Dense(1)\n}\n")
    with pytest.raises(SpecError) as info:
        compile_text(text, "m.nns")
    (error,) = info.value.diagnostics
    assert (error.span.line, error.span.column) == (5, 5)
    assert f"must come before a merge of several values; '{name}'" in error.message
