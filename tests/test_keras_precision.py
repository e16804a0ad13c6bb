"""The Keras backend under the mixed precision policies and on a device (``compiler.semantics.precision``,
``backends.keras.placement``): Keras' ``mixed_*`` policies on the layers, float32 across the boundary,
dynamic loss scaling with Keras' ``LossScaleOptimizer`` (skipped steps counted, never divergence,
resumed exactly), and no global Keras state left behind. Everything runs on the CPU; the GPU case
skips where TensorFlow lists no GPU (the tensorflow-cpu wheel never does)."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from frameworks import need

keras = need("keras")
tf = need("tensorflow")

from backends.keras.placement import tf_device
from backends.keras.trainer import KerasTrainer
from compiler.pipeline import compile_text
from compiler.semantics import precision
from compiler.semantics.divergence import Diverged
from precision_cases import MIXED, MODES, assert_one_overflow_skipped, cnn_text, data, mlp_text

ROOT = Path(__file__).resolve().parents[1]
MLP = mlp_text(batch_size=32, epochs=1)
CNN = cnn_text(batch_size=32, epochs=1)


def batch(shape):
    """32 samples of ``shape`` and labels 0..2 that the inputs' first two channels decide."""
    return data(shape, n=32)


@pytest.fixture(scope="module")
def mlp():
    return compile_text(MLP, "m.nns").spec


@pytest.fixture(scope="module")
def cnn():
    return compile_text(CNN, "c.nns").spec


def steps(trainer, x, y, n, start=0):
    return [trainer.train_batch(x, y, start + i, 0.01) for i in range(n)]


def test_the_loss_scale_constants_are_keras_defaults(mlp):
    """compiler.semantics.precision's rule is Keras' LossScaleOptimizer's: its defaults, and the trainer's
    optimizer starts at them."""
    defaults = inspect.signature(keras.optimizers.LossScaleOptimizer.__init__).parameters
    assert defaults["initial_scale"].default == precision.INITIAL_SCALE == 2.0 ** 15
    assert defaults["dynamic_growth_steps"].default == precision.GROWTH_INTERVAL == 2000
    state = KerasTrainer(mlp, dtype="mixed_float16").state()
    assert state["loss_scale/scale"] == precision.INITIAL_SCALE and state["loss_scale/good_steps"] == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", MIXED)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_mixed_policy_trains_with_float32_weights_and_half_compute(request, model, policy, mode):
    spec = request.getfixturevalue(model)
    x, y = batch(spec.layers[0].shape)
    trainer = KerasTrainer(spec, dtype=policy, mode=mode)
    results = steps(trainer, x, y, 30)
    losses = [loss for loss, _ in results]
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.6 * losses[0]
    assert all(out.dtype == np.float32 for _, out in results)
    assert {w.dtype for w in trainer.get_weights().values()} == {np.dtype(np.float32)}
    assert all(a.dtype != np.float16 for a in trainer.state().values())
    hidden = trainer.net.keras_layers[spec.layers[1].name][0]  # the first Dense / Conv2D
    assert hidden.compute_dtype == precision.precision(policy).compute and hidden.variable_dtype == "float32"
    outputs, gradients = trainer.probe(x, y)
    assert all(a.dtype == np.float32 for a in [*outputs.values(), *gradients.values()])
    assert all(np.isfinite(g).all() for g in gradients.values())
    if policy == "mixed_float16":
        assert trainer.skipped_steps == 0  # 2**15 does not overflow these gradients
    else:
        assert not hasattr(trainer, "skipped_steps")  # only loss scaling skips steps


@pytest.mark.parametrize("mode", MODES)
def test_an_overflowing_step_is_skipped_counted_and_changes_no_weight(mlp, mode):
    """A loss scale of 2**100 makes the float16 gradients inf: the step is skipped (no Diverged), the
    weights and the optimizer's iterations stay, the scale halves and its growth count restarts."""
    x, y = batch([6])
    trainer = KerasTrainer(mlp, dtype="mixed_float16", mode=mode)
    steps(trainer, x, y, 3)
    state = trainer.state()
    trainer.load_state({**state, "loss_scale/scale": np.float32(2.0 ** 100)})
    before = {k: v.copy() for k, v in trainer.get_weights().items()}
    loss, _ = trainer.train_batch(x, y, 3, 0.01)
    assert np.isfinite(loss)
    after = trainer.state()
    assert_one_overflow_skipped(trainer, state, after, 2.0 ** 100, "optimizer/iteration")
    assert after["optimizer/iteration"] == 3
    for name, value in trainer.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_the_scale_grows_after_growth_interval_finite_steps(mlp):
    x, y = batch([6])
    trainer = KerasTrainer(mlp, dtype="mixed_float16")
    state = trainer.state()
    trainer.load_state({**state, "loss_scale/good_steps": np.int64(precision.GROWTH_INTERVAL - 1)})
    trainer.train_batch(x, y, 0, 0.01)
    rule = precision.LossScale(precision.INITIAL_SCALE, precision.GROWTH_INTERVAL - 1)
    rule.update(finite=True)
    after = trainer.state()
    assert (after["loss_scale/scale"], after["loss_scale/good_steps"]) == (rule.scale, rule.good_steps) \
        == (2.0 ** 16, 0)
    assert trainer.skipped_steps == 0 and after["optimizer/iteration"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_resumed_mixed_float16_run_continues_bit_for_bit_through_skipped_steps(cnn, mode):
    """Weights and state() of a run, loaded into a new trainer, give the losses, outputs, weights,
    loss scale and skipped-step count of the run that went on — skipped steps among the continued ones."""
    x, y = batch([8, 8, 3])
    trainer = KerasTrainer(cnn, dtype="mixed_float16", mode=mode)
    steps(trainer, x, y, 2)
    trainer.load_state({**trainer.state(), "loss_scale/scale": np.float32(2.0 ** 26)})  # a few overflows ahead
    weights, state = {k: v.copy() for k, v in trainer.get_weights().items()}, trainer.state()
    went_on = steps(trainer, x, y, 12, start=2)
    assert 0 < trainer.skipped_steps < 12
    resumed = KerasTrainer(cnn, weights, dtype="mixed_float16", mode=mode)
    resumed.load_state(state)
    again = steps(resumed, x, y, 12, start=2)
    assert [loss for loss, _ in again] == [loss for loss, _ in went_on]
    for (_, a), (_, b) in zip(again, went_on):
        np.testing.assert_array_equal(a, b)
    for name, value in resumed.get_weights().items():
        np.testing.assert_array_equal(value, trainer.get_weights()[name], err_msg=name)
    for key, value in resumed.state().items():
        np.testing.assert_array_equal(value, trainer.state()[key], err_msg=key)
    assert resumed.skipped_steps == trainer.skipped_steps


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", MIXED)
def test_a_nan_loss_is_still_diverged_under_a_mixed_policy(mlp, policy, mode):
    x, y = batch([6])
    trainer = KerasTrainer(mlp, dtype=policy, mode=mode)
    steps(trainer, x, y, 2)
    before, state = trainer.get_weights(), trainer.state()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(Diverged):
        trainer.train_batch(bad, y, 2, 0.01)
    for name, value in trainer.get_weights().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    for key, value in trainer.state().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


def test_building_a_mixed_trainer_leaves_keras_global_policy_and_floatx(mlp):
    policy, floatx = keras.config.dtype_policy().name, keras.config.floatx()
    x, y = batch([6])
    for name in MIXED:
        trainer = KerasTrainer(mlp, dtype=name, mode="native")
        trainer.train_batch(x, y, 0, 0.01)
        trainer.predict(x)
    assert (keras.config.dtype_policy().name, keras.config.floatx()) == (policy, floatx)  # whatever they were
    later = KerasTrainer(mlp, dtype="float32")
    # every layer that computes (an InputLayer's own policy follows the global one, but not its tensor's dtype)
    assert {layer.compute_dtype for layer in later.model.layers
            if not isinstance(layer, keras.layers.InputLayer)} == {"float32"}
    assert later.model.inputs[0].dtype == "float32"


def test_float32_is_named_by_policy_or_numpy_dtype_alike(mlp):
    x, y = batch([6])
    by_name, by_dtype = KerasTrainer(mlp, dtype="float32"), KerasTrainer(mlp, dtype=np.float32)
    assert steps(by_name, x, y, 2)[-1][0] == steps(by_dtype, x, y, 2)[-1][0]
    with pytest.raises(ValueError, match="unknown precision"):
        KerasTrainer(mlp, dtype="float8")


def test_devices_tensorflow_cannot_use_are_refused_with_a_sentence(mlp):
    assert tf_device("cpu") == "/CPU:0"
    with pytest.raises(ValueError, match="'cpu' or 'cuda"):
        KerasTrainer(mlp, device="mps")
    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(ValueError, match="TensorFlow sees no GPU"):
            KerasTrainer(mlp, device="cuda:0")


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="TensorFlow lists no GPU "
                    "(a GPU build of TensorFlow is needed; the test extra installs tensorflow-cpu)")
def test_cuda_places_the_model_on_the_gpu(mlp):
    x, y = batch([6])
    trainer = KerasTrainer(mlp, dtype="mixed_bfloat16", device="cuda:0")
    assert np.isfinite(trainer.train_batch(x, y, 0, 0.01)[0])
    assert "GPU:0" in trainer.model.layers[1].kernel.value.device


def test_tf32_is_set_as_asked(mlp):
    try:
        KerasTrainer(mlp, tf32=True)
        assert tf.config.experimental.tensor_float_32_execution_enabled()
        KerasTrainer(mlp)
        assert not tf.config.experimental.tensor_float_32_execution_enabled()  # off unless asked
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(False)


def test_deterministic_switches_tensorflow_op_determinism_on():
    """In a process of its own: op determinism, once on, stays on for the process (TensorFlow's reading
    of the switch is not public API: tensorflow.python.framework.config)."""
    script = textwrap.dedent(f"""
        from tensorflow.python.framework.config import is_op_determinism_enabled
        from backends.keras.trainer import KerasTrainer
        from compiler.pipeline import compile_text
        spec = compile_text({MLP!r}, "m.nns").spec
        KerasTrainer(spec)
        assert not is_op_determinism_enabled()
        KerasTrainer(spec, deterministic=True)
        assert is_op_determinism_enabled()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
