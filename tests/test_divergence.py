"""Divergence (compiler/semantics/divergence.py): one definition and one rule for the layer to blame, applied by
every backend in both modes (Keras' own ``fit`` included), by ``equiv`` too; the bad step is undone, so
the weights saved — ``weights.npz`` and the final checkpoint — are those after the last good step, and
run.json and the message say which step that is."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.trainers import make_trainer
from runtime.checkpoint import load_checkpoint
from runtime.data import load_dataset
from compiler.semantics.divergence import LOSS_LIMIT, Diverged, locate, loss_diverged
from tools.equiv import Trace, compare, relative_error, run_canonical, tolerance_for
from compiler.semantics.initializers import initial_weights
from runtime.run_dir import load_weights
from cli import app
from cli.exit_codes import EXIT_DIVERGED, EXIT_OK
from compiler.pipeline import compile_text

BACKENDS = ("numpy", "torch", "keras")
TRAIN = "batch_size = 16  seed = 1  epochs = 2"
MLP = "Input([4])\n    Dense(8, activation={act})\n    Dense(1)"
# name -> (model, loss, optimizer, data file): each diverges by another rule of compiler/semantics/divergence.py
SPECS = {
    # huge rate on an MLP: the loss passes 1e30 at step 3 with every value still finite
    "mlp_huge_rate": (MLP.format(act="tanh"), "mse", "sgd(learning_rate=1e8)", "regression.npz"),
    # huge rate on a small CNN with BatchNormalization: the logits pass 1e30 at step 3 ('dense' is blamed);
    # the old check let float32 run on with an infinite moving variance
    "cnn_batchnorm_huge_rate": ("Input([6, 6, 1])\n    Conv2D(3, 3, padding=same, use_bias=false)\n"
                                "    BatchNormalization()\n    Activation(relu)\n    MaxPooling2D(2)\n"
                                "    Flatten()\n    Dense(3)",
                                "sparse_categorical_crossentropy(from_logits=true)", "sgd(learning_rate=1e8)",
                                "images.npz"),
    # targets of 1e20: the mse overflows (inf in float32, 1e40 in float64) at the first step
    "loss_overflow": (MLP.format(act="relu"), "mse", "sgd(learning_rate=1e-3)", "huge_targets.npz"),
    # a finite loss and gradients, but the update itself overflows the weights: undone, 'dense' blamed
    "update_overflow": (MLP.format(act="relu"), "mse", "sgd(learning_rate=1e308)", "regression.npz"),
}
# where canonical training stops (from 1) and the layer blamed, the same in every backend and dtype
EXPECTED = {"mlp_huge_rate": (3, None), "cnn_batchnorm_huge_rate": (3, "dense"), "loss_overflow": (1, None),
            "update_overflow": (1, "dense")}

runner = CliRunner()


def spec_text(name: str) -> str:
    model, loss, optimizer, data = SPECS[name]
    return (f"model {name} {{\n    {model}\n}}\n"
            f"train {{ loss = {loss}  optimizer = {optimizer}  {TRAIN}  data = \"{data}\" }}\n")


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    """The specs of SPECS as files, beside their data."""
    d = tmp_path_factory.mktemp("diverging")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    np.savez(d / "regression.npz", x=x, y=x @ rng.normal(size=(4, 1)))
    np.savez(d / "images.npz", x=rng.uniform(size=(64, 6, 6, 1)), y=rng.integers(0, 3, 64))
    np.savez(d / "huge_targets.npz", x=x, y=rng.normal(size=(64, 1)) * 1e20)
    for name in SPECS:
        (d / f"{name}.nns").write_text(spec_text(name))
    return d


def train(spec_path, out, *options):
    return runner.invoke(app, ["train", str(spec_path), "--out", str(out), "-q", *options])


def saved_step(result) -> int:
    """The step whose weights the message says are saved (0: the initial ones)."""
    found = re.search(r"the weights of step (\d+) are saved|the initial weights are saved", result.output)
    assert found, result.output
    return int(found.group(1) or 0)


def check_saved_run(out, result) -> dict[str, np.ndarray]:
    """What every diverged run promises: exit 3, a message naming the step whose weights are saved,
    the same step in run.json and in the final checkpoint's position, finite weights, and a final
    checkpoint holding exactly the weights of weights.npz. Returns those weights."""
    assert result.exit_code == EXIT_DIVERGED, result.output
    assert "Traceback" not in result.output
    info = json.loads((out / "run.json").read_text())
    assert info["outcome"].startswith("diverged") and info["weights_step"] == saved_step(result)
    weights = load_weights(out / "weights.npz")
    assert all(np.all(np.isfinite(w)) for w in weights.values())
    state, checkpoint_weights, trainer_state, _ = load_checkpoint(out)
    assert state.step == info["weights_step"]
    assert set(checkpoint_weights) == set(weights)
    for k, w in weights.items():
        np.testing.assert_array_equal(checkpoint_weights[k], w, err_msg=k)
    assert all(np.all(np.isfinite(v)) for v in trainer_state.values() if np.asarray(v).dtype.kind == "f")
    return weights


def data_of(spec_dir, name, dtype):
    spec = compile_text(spec_text(name)).spec
    return spec, load_dataset(spec, data=None, base_dir=spec_dir, dtype=np.dtype(dtype))


@pytest.fixture(scope="module")
def numpy_reference(spec_dir):
    """(spec name, dtype) -> NumPy's canonical trace: where it stopped, and its weights after the last
    good step (the reference every backend's saved weights are compared with)."""
    cache = {}

    def get(name, dtype):
        if (name, dtype) not in cache:
            spec, data = data_of(spec_dir, name, dtype)
            cache[name, dtype] = run_canonical("numpy", spec, data.x_train, data.y_train, steps=20, dtype=dtype)
        return cache[name, dtype]

    return get


# ---- the definition and the rule ---------------------------------------------------------------------

@pytest.mark.parametrize("loss,diverged", [(0.5, False), (LOSS_LIMIT, False), (-LOSS_LIMIT, False),
                                           (LOSS_LIMIT * 10, True), (np.inf, True), (-np.inf, True),
                                           (np.nan, True)])
def test_a_loss_beyond_the_limit_or_not_finite_has_diverged(loss, diverged):
    assert loss_diverged(loss) is diverged


def test_the_blamed_layer_is_the_first_blown_up_output_then_gradient_then_updated_weight():
    spec = compile_text(spec_text("cnn_batchnorm_huge_rate")).spec
    names = [layer.name for layer in spec.layers]
    outputs = {n: np.ones(3) for n in names}
    grads = {"conv2d/kernel": np.ones(2), "batch_normalization/gamma": np.ones(2), "dense/kernel": np.ones(2)}
    assert locate(spec, 1.0, outputs, grads, ["dense/kernel"]).layer == "dense"
    grads["batch_normalization/gamma"] = np.array([1.0, np.nan])
    assert locate(spec, 1.0, outputs, grads, ["dense/kernel"]).layer == "batch_normalization"
    outputs["max_pooling2d"] = np.array([1.0, 2 * LOSS_LIMIT])  # finite, but blown up
    blamed = locate(spec, np.inf, outputs, grads, ["dense/kernel"])
    assert blamed.layer == "max_pooling2d" and "the loss became inf" in str(blamed)
    outputs["conv2d"] = np.array([-np.inf])
    assert locate(spec, np.inf, outputs, grads).layer == "conv2d"
    assert locate(spec, 2 * LOSS_LIMIT, {}, {}).layer is None  # the loss alone


# ---- canonical mode: every backend stops at the same step and blames the same layer ------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_canonical_training_stops_at_the_same_step_and_layer_with_the_last_good_weights(
        backend, name, dtype, spec_dir, numpy_reference, tmp_path):
    result = train(spec_dir / f"{name}.nns", tmp_path / "run", "--backend", backend, "--mode", "canonical",
                   "--dtype", dtype)
    weights = check_saved_run(tmp_path / "run", result)
    step, layer = EXPECTED[name]
    reference = numpy_reference(name, dtype)
    assert (reference.stopped.step, reference.stopped.layer) == (step, layer)
    assert f"step {step}:" in result.output and saved_step(result) == step - 1
    assert (f"layer '{layer}'" in result.output or f"'{layer}/" in result.output) if layer else True
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert f"step {step}" in info["outcome"]
    tolerance = 0.0 if backend == "numpy" else tolerance_for(dtype)
    for k, w in reference.weights.items():  # the weights after the last good step
        assert relative_error(weights[k], w) <= tolerance, k


MOMENTUM_BATCHNORM = """model undo {
    Input([4])
    Dense(8, activation=relu)
    BatchNormalization()
    Dense(1)
}
train { loss = mse  optimizer = sgd(momentum=0.5)  batch_size = 16 }
"""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_diverged_step_leaves_weights_moving_statistics_and_optimizer_state_untouched(backend, dtype):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype(dtype), (rng.normal(size=(16, 1)) * 1e3).astype(dtype)
    trainer = make_trainer(backend, compile_text(MOMENTUM_BATCHNORM).spec, dtype=np.dtype(dtype), mode="canonical")
    trainer.train_batch(x, y, 0, 1e-6)  # a good step: momentum slots and moving statistics that are not zero
    weights, state = trainer.get_weights(), trainer.state()
    with pytest.raises(Diverged) as info:  # gradients of ~1e3 times 1e308 overflow the weights and slots
        trainer.train_batch(x, y, 1, 1e308)
    assert info.value.layer == "dense" and "not finite after the update" in str(info.value)
    for k, w in trainer.get_weights().items():
        np.testing.assert_array_equal(w, weights[k], err_msg=k)
    after = trainer.state()
    assert set(after) == set(state)
    for k, v in after.items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)


# ---- native mode: every backend stops with the last good weights --------------------------------------

@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_native_training_stops_with_the_last_good_weights(backend, name, spec_dir, tmp_path):
    result = train(spec_dir / f"{name}.nns", tmp_path / "run", "--backend", backend)
    weights = check_saved_run(tmp_path / "run", result)
    if saved_step(result) == 0:  # diverged at the first step: the initial weights, untouched
        spec = compile_text(spec_text(name)).spec
        initial = make_trainer(backend, spec, dtype=np.float32, mode="native").get_weights()
        for k, w in initial.items():
            np.testing.assert_array_equal(weights[k], w, err_msg=k)


DROPOUT_MLP = """model dropout_mlp {
    Input([4])
    Dense(16, activation=relu)
    Dropout(0.3)
    Dense(1)
}
train { loss = mse  optimizer = sgd(learning_rate=1e8)  batch_size = 16  seed = 1  epochs = 2  data = "regression.npz" }
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_resuming_a_diverged_run_repeats_the_same_bad_step(backend, spec_dir, tmp_path):
    """The final checkpoint is the whole state after the last good step (weights, optimizer, position,
    native dropout's random state): resumed, the run diverges again at the same step with the same loss."""
    spec = tmp_path / "dropout_mlp.nns"
    spec.write_text(DROPOUT_MLP)
    (tmp_path / "regression.npz").write_bytes((spec_dir / "regression.npz").read_bytes())
    first = train(spec, tmp_path / "run", "--backend", backend)
    check_saved_run(tmp_path / "run", first)
    again = runner.invoke(app, ["train", str(spec), "--resume", str(tmp_path / "run"), "-q"])
    check_saved_run(tmp_path / "run", again)
    stopped = [re.search(r"training stopped at (.*)$", r.output, re.M).group(1) for r in (first, again)]
    assert stopped[0] == stopped[1]


# ---- equiv --------------------------------------------------------------------------------------------

def test_equiv_reports_where_each_backend_diverged_and_agrees(spec_dir, tmp_path):
    result = runner.invoke(app, ["equiv", str(spec_dir / "cnn_batchnorm_huge_rate.nns"), "--steps", "6",
                                 "--dtype", "float32", "--out", str(tmp_path / "eq")])
    assert result.exit_code == EXIT_OK, result.output
    for backend in BACKENDS:
        assert f"{backend}: training diverged at step 3" in result.output
    report = json.loads((tmp_path / "eq" / "equiv.json").read_text())
    assert {b: (s["step"], s["layer"]) for b, s in report["stopped"].items()} == {b: (3, "dense") for b in BACKENDS}


def test_equiv_parts_backends_that_diverge_at_different_steps():
    def trace(backend, losses, stopped_at=None, layer=None):
        t = Trace(backend, losses=losses, weights={"dense/kernel": np.ones(2)})
        if stopped_at is not None:
            t.stopped = Diverged("the loss became nan", layer)
            t.stopped.step = stopped_at
        return t

    reference = trace("numpy", [1.0, 2.0], stopped_at=3, layer="dense")
    assert compare(trace("torch", [1.0, 2.0], 3, "dense"), reference, 1e-9).step is None
    parted = compare(trace("torch", [1.0, 2.0, 3.0, 4.0]), reference, 1e-9)
    assert (parted.step, parted.layer) == (2, "dense")  # counted from 0: step 3
    other_layer = compare(trace("keras", [1.0, 2.0], 3, "conv2d"), reference, 1e-9)
    assert (other_layer.step, other_layer.layer) == (2, "conv2d")


def test_canonical_initial_weights_are_what_a_first_step_divergence_leaves(spec_dir):
    """The reference of the first-step cases: NumPy's canonical trace keeps the initial weights."""
    spec, data = data_of(spec_dir, "update_overflow", "float64")
    trace = run_canonical("numpy", spec, data.x_train, data.y_train, steps=3, dtype="float64")
    assert trace.stopped.step == 1 and trace.stopped.weights_step == 0
    for k, w in initial_weights(spec, spec.training.seed, np.float64).items():
        np.testing.assert_array_equal(trace.weights[k], w, err_msg=k)
