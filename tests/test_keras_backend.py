"""The Keras 3 backend against the NumPy reference.

- the lowering table covers every IR layer kind;
- canonical mode, float64, 50 steps: per-step losses and final weights agree with NumPy's to 1e-9
  (relative), and the first step's outputs, for every case of the generated matrix, a few extra
  cases (probabilities that Keras would otherwise reinterpret, an activity penalty on a fused
  softmax) and every example spec with data; float32 to 1e-4 for a few well-conditioned ones;
- evaluation, probes, schedules, divergence, weights crossing between backends;
- native mode: Keras' initializers draw the pinned distributions (KS tests); Keras' own step, driven
  by the loop, retraces the reference without dropout and stops before a non-finite update. (The loop's
  promises for every backend and mode are tests/test_loop_contract.py.)
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from example_specs import CONCRETE, SHRUNK
from frameworks import need

keras = need("keras")
tf = need("tensorflow")

from equivalence_cases import CASES, CNN, MLP, case_data

from runtime.trainers import make_trainer
from runtime.data import load_dataset
from tools.equiv import compare, relative_error, run_canonical
from backends.keras.layers import LOWERINGS
from backends.keras.optimizers import SpecSchedule
from backends.keras.trainer import KerasTrainer
from backends.contract import LoopEvents
from compiler.semantics.divergence import Diverged
from runtime.loop import fit
from compiler.semantics.initializers import initial_weights
from backends.numpy.model import NumpyModel
from backends.numpy.trainer import NumpyTrainer
from compiler.semantics.schedules import learning_rate
from compiler.ir import training as tr
from compiler.ir.layers import LAYER_CLASSES
from compiler.pipeline import compile_file, compile_text

ROOT = Path(__file__).resolve().parent.parent
STEPS = 50
SUBSAMPLE = 256

# Cases beyond the generated matrix: outputs that are probabilities but come from a sigmoid under a
# categorical loss (Keras' _get_logits would take its logits), probabilities after a Dropout
# (clipped), and an activity penalty on a softmax that is fused with the loss.
EXTRA = {
    "mlp-categorical-sigmoid-renormalised": MLP.format(
        name="x1", head="Dense(3, activation=sigmoid) Flatten()", loss="categorical_crossentropy",
        optimizer="rmsprop(learning_rate=0.01)", schedule="constant", extra=""),
    "mlp-sparse-sigmoid-probabilities": MLP.format(
        name="x2", head="Dense(3, activation=sigmoid) Flatten()", loss="sparse_categorical_crossentropy",
        optimizer="sgd(learning_rate=0.1)", schedule="constant", extra=""),
    "mlp-binary-probabilities-clipped": MLP.format(
        name="x3", head="Dense(1, activation=sigmoid) Flatten()", loss="binary_crossentropy",
        optimizer="adam(learning_rate=0.01)", schedule="constant", extra=""),
    "cnn-fused-activity-regularizer": CNN.format(
        name="x4", head="Flatten() Dense(3, activation=softmax, activity_regularizer=l1(0.01), "
                        "kernel_regularizer=l1l2(l1=0.001, l2=0.001))",
        loss="categorical_crossentropy", optimizer="adamw(learning_rate=0.01)", schedule="constant", extra=""),
}
ALL_CASES = {**CASES, **EXTRA}
# Every example spec but seed_cnn: its 128x128 images with 128-filter convolutions make 50 float64 steps take
# many minutes here (tests/test_torch_backend.py checks its first step against NumPy on its own images); the
# graphs and the 32x32 image models (example_specs.SHRUNK) run on shrunk data in tests/test_example_equivalence.py.
SPEC_PATHS = sorted(p for p in CONCRETE
                    if compile_file(p).spec.training.data is not None and p.stem != "seed_cnn" and p not in SHRUNK)


def spec_data(path: Path, dtype=np.float64):
    spec = compile_file(path).spec
    ds = load_dataset(spec, dtype=np.float64)
    idx = np.random.default_rng(0).permutation(len(ds.x_train))[:SUBSAMPLE]
    return spec, ds.x_train[idx].astype(dtype), ds.y_train[idx]


def assert_equivalent(spec, x, y, dtype="float64"):
    tolerance = 1e-9 if dtype == "float64" else 1e-4
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype=dtype)
    trace = run_canonical("keras", spec, x, y, steps=STEPS, dtype=dtype)
    d = compare(trace, reference, tolerance)
    worst = max(d.weight_errors.values())
    assert d.step is None and d.layer is None, (
        f"parts at step {d.step}, layer {d.layer}: loss error {d.loss_error:.3g}, weight error {worst:.3g}")
    assert d.loss_error < tolerance and worst < tolerance
    assert relative_error(trace.first_outputs, reference.first_outputs) < tolerance


# ---- lowering --------------------------------------------------------------------------------------

def test_lowering_table_covers_every_layer_kind():
    assert set(LOWERINGS) == set(LAYER_CLASSES), (
        f"missing: {sorted(set(LAYER_CLASSES) - set(LOWERINGS))}, unknown: {sorted(set(LOWERINGS) - set(LAYER_CLASSES))}")


def test_weights_use_the_spec_names_and_keras_layouts():
    spec = compile_file(ROOT / "specs" / "vgg_cnn.nns").spec
    trainer = KerasTrainer(spec, dtype=np.float32)
    weights = trainer.get_weights()
    expected = initial_weights(spec, spec.training.seed, np.float32)
    assert list(weights) == list(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(weights[name], value)  # canonical mode loads NumPy's draw
    assert weights["conv2d/kernel"].shape == (3, 3, 1, 32)
    assert "batch_normalization/moving_variance" in weights


# ---- canonical mode: step-for-step equivalence ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_matrix_case_float64_matches_numpy(name):
    spec = compile_text(ALL_CASES[name]).spec
    x, y = case_data(spec, 40)
    assert_equivalent(spec, x, y)


@pytest.mark.parametrize("path", SPEC_PATHS, ids=lambda p: p.stem)
def test_example_spec_float64_matches_numpy(path):
    spec, x, y = spec_data(path)
    assert_equivalent(spec, x, y)


@pytest.mark.parametrize("name", ["digits_mlp", "sgd_momentum_step", "cnn-gap-categorical-logits-sgd",
                                  "cnn-gap-keepdims-binary-rmsprop"])
def test_float32_matches_numpy(name):
    """float32 round-off grows with the conditioning of the run, not with the backend: over 50 steps
    vgg_cnn's float32 NumPy run is itself 3e-2 away from its float64 run (BatchNormalization on a
    batch of 32 with tiny variances), and Adam's √v + ε amplifies round-off in small gradients. These
    cases stay ≥ 10x inside 1e-4 (Keras vs NumPy: 1e-6 to 7e-6)."""
    if name in ALL_CASES:
        spec = compile_text(ALL_CASES[name]).spec
        x, y = case_data(spec, 40, dtype=np.float32)
    else:
        spec, x, y = spec_data(ROOT / "specs" / f"{name}.nns", np.float32)
    assert_equivalent(spec, x, y, dtype="float32")


def test_evaluation_and_probe_match_numpy():
    spec = compile_text(CASES["mlp-sparse-probabilities-amsgrad"]).spec
    x, y = case_data(spec, 40)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    ours = KerasTrainer(spec, weights, dtype=np.float64)
    ref = NumpyTrainer(spec, weights, dtype=np.float64)
    for i in range(3):
        ours.train_batch(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8], i, 0.01)
        ref.train_batch(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8], i, 0.01)
    loss, out = ours.evaluate_batch(x, y)
    ref_loss, ref_out = ref.evaluate_batch(x, y)
    assert relative_error(loss, ref_loss) < 1e-12 and relative_error(out, ref_out) < 1e-12
    assert relative_error(ours.predict(x), NumpyModel(spec, ref.params).predict(x)) < 1e-12
    before = ours.get_weights()
    outs, grads = ours.probe(x[:8], y[:8])
    ref_outs, ref_grads = ref.probe(x[:8], y[:8])
    assert outs.keys() == ref_outs.keys() and grads.keys() == ref_grads.keys()
    for name in ref_outs:
        assert relative_error(outs[name], ref_outs[name]) < 1e-12, name
    for name in ref_grads:
        assert relative_error(grads[name], ref_grads[name]) < 1e-10, name
    after = ours.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # moving statistics untouched


@pytest.mark.parametrize("schedule", [
    tr.ConstantSchedule(), tr.StepSchedule(step_size=4, gamma=0.5),
    tr.ExponentialSchedule(decay_steps=10, decay_rate=0.9), tr.ExponentialSchedule(decay_steps=4, decay_rate=0.5,
                                                                                  staircase=True),
    tr.CosineSchedule(decay_steps=20, alpha=0.1),
    tr.WarmupSchedule(steps=5, start=0.1, then=tr.CosineSchedule(decay_steps=20, alpha=0.1)),
], ids=lambda s: s.kind)
def test_native_schedule_is_the_shared_one(schedule):
    optimizer = tr.Adam(learning_rate=3e-3)
    keras_schedule = SpecSchedule(optimizer.learning_rate, schedule, "float64")
    got = [float(keras_schedule(tf.constant(t, tf.int64))) for t in range(40)]
    want = [learning_rate(optimizer, schedule, t) for t in range(40)]
    assert relative_error(got, want) < 1e-15


def test_train_batch_uses_the_rate_it_is_given_in_both_modes():
    """The Trainer protocol: ``train_batch(x, y, step, lr)`` steps with ``lr`` (a learning-rate range
    test relies on it), also in native mode, whose ``fit`` runs the spec's schedule in the graph."""
    spec = compile_text("""model m {
        Input([6])
        Dense(5, activation=tanh)
        BatchNormalization()
        Dense(3)
    }
    train {
        loss = sparse_categorical_crossentropy(from_logits=true)
        optimizer = sgd(learning_rate=0.05, momentum=0.8, weight_decay=0.01)
        schedule = step(step_size=2)
        batch_size = 8
    }
    """).spec  # no dropout: native mode then computes what canonical mode does
    x, y = case_data(spec, 8)
    for mode in ("canonical", "native"):
        weights = initial_weights(spec, 4, np.float64)
        ours = KerasTrainer(spec, weights, dtype=np.float64, mode=mode)
        reference = NumpyTrainer(spec, weights, dtype=np.float64)
        for step, lr in ((0, 0.3), (5, 0.0), (6, 0.02)):
            ours.train_batch(x, y, step, lr)
            reference.train_batch(x, y, step, lr)
        got = ours.get_weights()
        for name in ("dense/kernel", "dense_1/bias", "batch_normalization/moving_mean"):
            assert relative_error(got[name], reference.get_weights()[name]) < 1e-12, (mode, name)


def test_float64_trainer_leaves_keras_floatx_alone():
    before = keras.config.floatx()
    spec = compile_text(CASES["mlp-mae-adagrad"]).spec
    trainer = KerasTrainer(spec, dtype=np.float64)
    x, y = case_data(spec, 8)
    trainer.train_batch(x, y, 0, 0.05)
    assert keras.config.floatx() == before
    assert all(v.dtype == np.float64 for v in trainer.get_weights().values())


def test_checkpoint_state_continues_exactly():
    spec = compile_text(CASES["cnn-gap-keepdims-binary-rmsprop"]).spec
    x, y = case_data(spec, 16)
    first = KerasTrainer(spec, dtype=np.float64)
    first.train_batch(x[:8], y[:8], 0, 0.005)
    second = KerasTrainer(spec, first.get_weights(), dtype=np.float64)
    second.load_state(first.state())
    assert first.train_batch(x[8:], y[8:], 1, 0.005)[0] == second.train_batch(x[8:], y[8:], 1, 0.005)[0]
    for name, value in first.get_weights().items():
        np.testing.assert_array_equal(second.get_weights()[name], value, err_msg=name)


# ---- divergence -------------------------------------------------------------------------------------

def test_non_finite_step_is_refused_and_names_the_layer_as_numpy_does():
    spec = compile_text(CASES["cnn-flatten-sparse-adam"]).spec
    x, y = case_data(spec, 8)
    weights = initial_weights(spec, spec.training.seed, np.float64)
    weights["conv2d_1/kernel"][0, 0, 0, 0] = np.inf
    errors = {}
    for backend in ("numpy", "keras"):
        trainer = make_trainer(backend, spec, weights=weights, dtype=np.float64)
        before = {k: v.copy() for k, v in trainer.get_weights().items()}
        with pytest.raises(Diverged) as info:
            trainer.train_batch(x, y, 0, 0.01)
        after = trainer.get_weights()
        for k, value in before.items():  # no update, moving statistics put back
            np.testing.assert_array_equal(after[k], value, err_msg=f"{backend}: {k}")
        errors[backend] = info.value
    assert errors["keras"].layer == errors["numpy"].layer == "conv2d_1"
    assert str(errors["keras"]) == str(errors["numpy"])


def test_native_mode_stops_before_a_non_finite_update():
    text = """model r {
        Input([4])
        Dense(16, activation=relu)
        BatchNormalization()
        Dense(1)
    }
    train {
        loss = mse
        optimizer = sgd(learning_rate=10.0)
        batch_size = 16
        seed = 3
    }
    """
    spec = compile_text(text).spec
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)) * 100, rng.normal(size=(64, 1)) * 100
    losses = []
    results = {}
    for mode, events in (("canonical", None), ("native", LoopEvents()),
                         ("native", LoopEvents(batch_end=lambda b, loss: losses.append(loss)))):
        trainer = KerasTrainer(spec, dtype=np.float64, mode=mode)
        with pytest.raises(Diverged) as info:
            fit(trainer, spec, x, y, x[:0], y[:0], epochs=20, seed=3, events=events)
        assert all(np.isfinite(v).all() for v in trainer.get_weights().values())
        assert info.value.layer is not None and info.value.epoch is not None
        results.setdefault(mode, []).append((info.value.epoch, info.value.step))
    # every good step ends its batch, and every loss the loop read for the progress display is finite
    assert all(v is None or math.isfinite(v) for v in losses) and len(losses) == results["native"][1][1] - 1
    assert results["native"][0] == results["native"][1]


# ---- weights across backends ----------------------------------------------------------------------

def test_weights_trained_natively_in_keras_predict_the_same_in_numpy_and_back():
    spec, x, y = spec_data(ROOT / "specs" / "vgg_cnn.nns")
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"early_stopping": None})})
    ours = KerasTrainer(spec, dtype=np.float64, mode="native")
    fit(ours, spec, x[:128], y[:128], x[:0], y[:0], epochs=1, seed=5)
    weights = ours.get_weights()
    assert np.any(weights["batch_normalization/moving_mean"] != 0)  # the moving statistics moved
    reference = NumpyModel(spec, {k: v.copy() for k, v in weights.items()})
    assert relative_error(ours.predict(x), reference.predict(x)) <= 1e-12  # float64: round-off

    numpy_trainer = NumpyTrainer(spec, dtype=np.float64)
    fit(numpy_trainer, spec, x[:64], y[:64], x[:0], y[:0], epochs=1, seed=5)
    loaded = KerasTrainer(spec, numpy_trainer.get_weights(), dtype=np.float64, mode="native")
    assert relative_error(loaded.predict(x), NumpyModel(spec, numpy_trainer.params).predict(x)) <= 1e-12


# ---- native mode -----------------------------------------------------------------------------------

INIT_SPEC = """model inits {
    Input([200])
    Dense(300, kernel_initializer=he_normal)
    Dense(200, kernel_initializer=glorot_uniform, bias_initializer=random_normal(mean=0.5, stddev=0.2))
    Dense(200, kernel_initializer=lecun_normal, bias_initializer=random_uniform(minval=-0.3, maxval=0.3))
    Dense(100, kernel_initializer=truncated_normal(stddev=0.3), bias_initializer=constant(0.01))
    Dense(50, kernel_initializer=orthogonal(gain=2.0))
    Dense(10, kernel_initializer=he_uniform, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam
    seed = 9
}
"""


def test_native_initializers_draw_the_pinned_distributions():
    from scipy import stats

    spec = compile_text(INIT_SPEC).spec
    native = KerasTrainer(spec, dtype=np.float64, mode="native").get_weights()
    canonical = initial_weights(spec, 9, np.float64)
    for name in ("dense/kernel", "dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias",
                 "dense_3/kernel", "dense_5/kernel"):
        a, b = native[name].ravel(), canonical[name].ravel()
        assert not np.allclose(a, b), f"{name}: native mode should draw its own numbers"
        p = stats.ks_2samp(a, b).pvalue
        assert p > 1e-3, f"{name}: KS p = {p:.2g}"
    assert np.all(native["dense_3/bias"] == 0.01)  # exactly, in float64
    w = native["dense_4/kernel"]  # 100 x 50 orthogonal, gain 2
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(50), atol=1e-10)
    again = KerasTrainer(spec, dtype=np.float64, mode="native").get_weights()
    assert all(np.array_equal(native[k], again[k]) for k in native)  # the seed decides
    other = KerasTrainer(spec, dtype=np.float64, mode="native", seed=10).get_weights()
    assert not np.array_equal(native["dense/kernel"], other["dense/kernel"])


@pytest.mark.parametrize("name", ["adam_cosine_warmup", "sgd_momentum_step"])
def test_native_step_without_dropout_retraces_the_reference(name):
    """Keras' own step (the compiled model's loss) driven by the loop: from the canonical weights and
    with no dropout it is the NumPy reference, epoch for epoch, in float64."""
    spec = compile_file(ROOT / "specs" / f"{name}.nns").spec
    ds = load_dataset(spec, dtype=np.float64)
    x, y, xv, yv = ds.x_train[:300], ds.y_train[:300], ds.x_val[:100], ds.y_val[:100]
    weights = initial_weights(spec, spec.training.seed, np.float64)
    ours = KerasTrainer(spec, weights, dtype=np.float64, mode="native")
    reference = NumpyTrainer(spec, weights, dtype=np.float64)
    got = fit(ours, spec, x, y, xv, yv, epochs=3, seed=spec.training.seed)
    want = fit(reference, spec, x, y, xv, yv, epochs=3, seed=spec.training.seed)
    for a, b in zip(got.epochs, want.epochs, strict=True):
        for key in b:
            if key != "seconds":
                assert relative_error(a[key], b[key]) < 1e-12, (a["epoch"], key, a[key], b[key])
    for key, value in reference.get_weights().items():
        assert relative_error(ours.get_weights()[key], value) < 1e-12, key
