"""The PyTorch backend under the mixed precision policies, on the CPU (torch's CPU autocast): half-precision
compute with float32 weights, state and loss; dynamic loss scaling with ``compiler.semantics.precision``'s
rule (skipped steps counted, never divergence, resumed exactly); divergence still caught under both mixed
policies; the steps the shared loop uses (``backends.torch.steps.DeviceSteps``: results read a few times a
second, divergence found at a read and replayed) giving what the checked ``train_batch`` gives, step for
step; and the process-wide TF32 and determinism switches (``backends.torch.device.configure``). The CUDA
runs are in tests/test_cuda.py."""

from __future__ import annotations

import os

import numpy as np
import pytest
from frameworks import need

torch = need("torch")

from backends.contract import Interrupted, LoopEvents
from backends.torch import steps as device_steps
from backends.torch.device import configure
from backends.torch.trainer import TorchTrainer
from compiler.pipeline import compile_text
from compiler.semantics import precision
from compiler.semantics.batch_order import batches
from compiler.semantics.divergence import Diverged
from runtime import loop
from precision_cases import MIXED, MODES, assert_one_overflow_skipped, cnn_text, data, mlp_text

HALF = {"bfloat16": torch.bfloat16, "float16": torch.float16}
MLP = mlp_text(batch_size=16, epochs=6)
CNN = cnn_text(batch_size=16, epochs=6)


@pytest.fixture(scope="module")
def mlp():
    return compile_text(MLP, "m.nns").spec


@pytest.fixture(scope="module")
def cnn():
    return compile_text(CNN, "c.nns").spec


MOMENTUM = "sgd(learning_rate=0.05, momentum=0.9)"  # an update that does not read the iteration count


def with_optimizer(text: str, optimizer: str):
    return compile_text(text.replace("adam(learning_rate=0.01)", optimizer), "s.nns").spec


def no_val(x, y):
    return x[:0], y[:0]


def fit(trainer, spec, x, y, **kwargs):
    return loop.fit(trainer, spec, x, y, *no_val(x, y), epochs=kwargs.pop("epochs", spec.training.epochs),
                    seed=spec.training.seed, **kwargs)


def checked(trainer):
    """``trainer`` driven through its checked ``train_batch`` (``runtime.loop.HostSteps``), not ``DeviceSteps``."""
    trainer.steps = None
    return trainer


def copies(arrays: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in arrays.items()}


def assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def set_scale(trainer, scale: float) -> None:
    trainer.load_state({**trainer.state(), "loss_scale/scale": np.float32(scale)})


def first_kernel_module(trainer, spec):
    """The torch module of the spec's first Dense / Conv2D (its own formula, before the activation)."""
    name = spec.layers[1].name
    return trainer.model.steps[trainer.model.step_layers.index(name)]


# ---- 1. half-precision compute, float32 everything else ------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", MIXED)
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_a_mixed_policy_trains_through_fit_with_float32_weights_and_loss_and_half_compute(request, model,
                                                                                           policy, mode):
    spec = request.getfixturevalue(model)
    x, y = data(spec.layers[0].shape)
    trainer = TorchTrainer(spec, dtype=policy, mode=mode)
    seen = {"forward": set(), "loss input": set(), "loss": set()}
    first_kernel_module(trainer, spec).register_forward_hook(lambda m, i, o: seen["forward"].add(o.dtype))
    loss_fn = trainer.loss_fn

    def recording_loss(inputs, targets, logits):
        loss = loss_fn(inputs, targets, logits)
        seen["loss input"].add(inputs.dtype)
        seen["loss"].add(loss.dtype)
        return loss

    trainer.loss_fn = recording_loss
    history = fit(trainer, spec, x, y)
    losses = history.column("loss")
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    assert seen == {"forward": {HALF[precision.precision(policy).compute]}, "loss input": {torch.float32},
                    "loss": {torch.float32}}
    assert {w.dtype for w in trainer.get_weights().values()} == {np.dtype(np.float32)}
    state = trainer.state()
    assert {a.dtype for k, a in state.items() if k.startswith("optimizer/") and k != "optimizer/iterations"} \
        == {np.dtype(np.float32)}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(b.dtype == torch.float32 for b in trainer.model.buffers())
    loss, out = trainer.train_batch(x[:16], y[:16], 1000, 0.01)
    assert isinstance(loss, float) and out.dtype == np.float32
    assert trainer.evaluate_batch(x, y)[1].dtype == np.float32
    outputs, gradients = trainer.probe(x[:16], y[:16])
    assert all(a.dtype == np.float32 for a in [*outputs.values(), *gradients.values()])
    if policy == "mixed_float16":
        assert trainer.skipped_steps == 0  # 2**15 does not overflow these gradients
        assert history.column("skipped_steps") == [0] * spec.training.epochs
    else:
        assert trainer.skipped_steps is None and history.column("skipped_steps") == []


def test_float32_has_no_autocast_and_no_skipped_steps_column(mlp):
    x, y = data([6])
    trainer = TorchTrainer(mlp, dtype="float32")
    seen = set()
    first_kernel_module(trainer, mlp).register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    history = fit(trainer, mlp, x, y, epochs=2)
    assert seen == {torch.float32} and trainer.skipped_steps is None
    assert all("skipped_steps" not in e for e in history.epochs)
    assert not any(k.startswith("loss_scale/") for k in trainer.state())


# ---- 2. loss scaling: skipped steps, backoff, growth -----------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_an_overflowing_step_is_skipped_counted_and_changes_no_weight_or_slot(cnn, mode):
    """A loss scale of 2**100 makes the float16 gradients inf: the step is skipped (no Diverged); weights,
    optimizer slots and iterations (torch's own step count too) stay; BatchNormalization's moving statistics
    move (the forward pass ran, as in Keras); the scale halves and its growth count restarts."""
    x, y = data([8, 8, 3], n=16)
    trainer = TorchTrainer(cnn, dtype="mixed_float16", mode=mode)
    for step in range(3):
        trainer.train_batch(x, y, step, 0.01)
    set_scale(trainer, 2.0 ** 100)
    state, weights = trainer.state(), copies(trainer.get_weights())
    loss, _ = trainer.train_batch(x, y, 3, 0.01)
    assert np.isfinite(loss)
    after = trainer.state()
    assert_one_overflow_skipped(trainer, state, after, 2.0 ** 100, "optimizer/iterations")
    assert after["optimizer/iterations"] == 3
    assert {float(s["step"]) for s in trainer.optimizer.optim.state.values()} == {3.0}
    assert_same({k: v for k, v in after.items() if k.startswith("optimizer/")},
                {k: v for k, v in state.items() if k.startswith("optimizer/")})
    now = trainer.get_weights()
    moving = {k for k in now if "moving_" in k}
    assert moving == {"batch_normalization/moving_mean", "batch_normalization/moving_variance"}
    assert_same({k: v for k, v in now.items() if k not in moving}, {k: v for k, v in weights.items() if k not in moving})
    assert all(not np.array_equal(now[k], weights[k]) for k in moving)
    trainer.train_batch(x, y, 4, 0.01)  # the next step at 2**99 overflows too, then one at 2**98 ...
    assert trainer.skipped_steps == 2 and trainer.state()["loss_scale/scale"] == 2.0 ** 98


def test_the_scale_grows_after_growth_interval_finite_steps(mlp):
    x, y = data([6], n=16)
    trainer = TorchTrainer(mlp, dtype="mixed_float16")
    trainer.load_state({**trainer.state(), "loss_scale/good_steps": np.int64(precision.GROWTH_INTERVAL - 1)})
    trainer.train_batch(x, y, 0, 0.01)
    rule = precision.LossScale(precision.INITIAL_SCALE, precision.GROWTH_INTERVAL - 1)
    rule.update(finite=True)
    after = trainer.state()
    assert (after["loss_scale/scale"], after["loss_scale/good_steps"]) == (rule.scale, rule.good_steps) \
        == (2.0 ** 16, 0)
    assert trainer.skipped_steps == 0 and after["optimizer/iterations"] == 1
    assert TorchTrainer(mlp, dtype="mixed_float16").state()["loss_scale/scale"] == precision.INITIAL_SCALE == 2 ** 15


@pytest.mark.parametrize("optimizer", ["adam(learning_rate=0.01)", "sgd(learning_rate=0.05, momentum=0.9)",
                                       "sgd(learning_rate=0.05, weight_decay=0.01)", "rmsprop(learning_rate=0.01)"])
def test_step_by_step_the_scale_follows_the_reference_rule_through_overflows_and_growth(monkeypatch, optimizer):
    """From a scale far too large, with growth every 3 finite steps: the run skips, backs off, grows and
    overflows again; after every step the scale and growth count are ``LossScale``'s, a skipped step left
    every weight and slot as it was and an applied one changed them, and the optimizer's iterations count
    the applied steps only — for torch.optim's fused kernels (Adam, plain SGD) and for the rule optimizers."""
    monkeypatch.setattr(precision, "GROWTH_INTERVAL", 3)
    spec = compile_text(MLP.replace("adam(learning_rate=0.01)", optimizer), "m.nns").spec
    x, y = data([6], n=16)
    trainer = TorchTrainer(spec, dtype="mixed_float16")
    set_scale(trainer, 2.0 ** 24)
    rule = precision.LossScale(2.0 ** 24)
    outcomes = []
    for step in range(40):
        before_w, before_s = copies(trainer.get_weights()), trainer.state()
        skipped = trainer.skipped_steps
        trainer.train_batch(x, y, step, 0.01)
        finite = trainer.skipped_steps == skipped
        outcomes.append(finite)
        rule.update(finite)
        state = trainer.state()
        assert (float(state["loss_scale/scale"]), int(state["loss_scale/good_steps"])) == (rule.scale, rule.good_steps)
        slots = {k: v for k, v in state.items() if k.startswith("optimizer/") and k != "optimizer/iterations"}
        unchanged = all(np.array_equal(v, before_w[k]) for k, v in trainer.get_weights().items()) and \
            all(np.array_equal(v, before_s[k]) for k, v in slots.items())
        assert unchanged == (not finite), step
        assert state["optimizer/iterations"] == sum(outcomes)
    assert outcomes.count(False) >= 10 and outcomes.count(True) >= 10  # both kinds, many times
    assert trainer.skipped_steps == outcomes.count(False)


@pytest.mark.parametrize("optimizer, mode", [(MOMENTUM, "canonical"), (MOMENTUM, "native"),
                                             pytest.param("adam(learning_rate=0.01)", "canonical")])
def test_fit_and_train_batch_skip_the_same_steps_and_end_with_the_same_bits(monkeypatch, optimizer, mode):
    """The shared loop through ``DeviceSteps`` (overflow flags read at the epoch end) and through the checked
    ``train_batch``: the same skipped steps per epoch, the same losses, weights and state bit for bit."""
    monkeypatch.setattr(precision, "GROWTH_INTERVAL", 4)
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))  # DeviceSteps reads at the epoch ends only
    cnn = with_optimizer(CNN, optimizer)
    x, y = data([8, 8, 3])
    runs = []
    for make in (lambda t: t, checked):
        trainer = make(TorchTrainer(cnn, dtype="mixed_float16", mode=mode))
        set_scale(trainer, 2.0 ** 22)
        history = fit(trainer, cnn, x, y, epochs=3)
        runs.append((trainer, history))
    (device, device_history), (host, host_history) = runs
    assert isinstance(device.steps(x, y), device_steps.DeviceSteps)
    skipped = device_history.column("skipped_steps")
    assert skipped == host_history.column("skipped_steps") and sum(skipped) == device.skipped_steps >= 4
    assert device_history.column("loss") == host_history.column("loss")
    assert_same(device.get_weights(), host.get_weights())
    assert_same(device.state(), host.state())


# ---- 3. divergence under a mixed policy ---------------------------------------------------------------
def nan_at(x, spec, batch):
    """``x`` with a NaN in a sample of the first epoch's batch ``batch``."""
    bad = x.copy()
    bad[batches(len(x), spec.training.batch_size, spec.training.seed, 0)[batch][0]].flat[0] = np.nan
    return bad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", MIXED)
def test_a_nan_loss_is_still_diverged_with_the_last_good_weights(mlp, policy, mode):
    """Through ``train_batch`` (weights and state untouched) and through ``fit`` (epoch and step named, the
    weights those after the last good step: a run of the good steps alone)."""
    x, y = data([6])
    trainer = TorchTrainer(mlp, dtype=policy, mode=mode)
    for step in range(2):
        trainer.train_batch(x[:16], y[:16], step, 0.01)
    weights, state = copies(trainer.get_weights()), trainer.state()
    bad = x[:16].copy()
    bad[0, 0] = np.nan
    with pytest.raises(Diverged):
        trainer.train_batch(bad, y[:16], 2, 0.01)
    assert_same(trainer.get_weights(), weights)
    assert_same(trainer.state(), state)

    bad = nan_at(x, mlp, 3)
    diverging = TorchTrainer(mlp, dtype=policy, mode=mode)
    with pytest.raises(Diverged) as caught:
        fit(diverging, mlp, bad, y)
    assert (caught.value.epoch, caught.value.step, caught.value.weights_step) == (1, 4, 3)
    good = TorchTrainer(mlp, dtype=policy, mode=mode)
    fit_until_stopped(good, mlp, x, y, 3)
    assert_same(diverging.get_weights(), good.get_weights())
    assert_same(diverging.state(), good.state())


def stop_after(steps: int):
    """A ``should_stop`` that asks to stop once ``steps`` steps are done (the loop raises ``Interrupted``)."""
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > steps

    return should_stop


def fit_until_stopped(trainer, spec, x, y, steps, **kwargs):
    with pytest.raises(Interrupted) as caught:
        fit(trainer, spec, x, y, should_stop=stop_after(steps), **kwargs)
    return caught.value.state


# ---- 4. resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, mode", [(MOMENTUM, "canonical"), (MOMENTUM, "native"),
                                             pytest.param("adam(learning_rate=0.01)", "native")])
def test_an_interrupted_mixed_float16_run_resumes_bit_for_bit_through_skipped_steps(monkeypatch, optimizer, mode):
    """Stopped mid-epoch, a new trainer built from the weights and ``state()`` (loss_scale/scale,
    loss_scale/good_steps, loss_scale/skipped_steps among it) and the loop state ends as the run that went
    through: weights, state, history (skipped steps per epoch included)."""
    monkeypatch.setattr(precision, "GROWTH_INTERVAL", 4)
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))
    cnn = with_optimizer(CNN, optimizer)
    x, y = data([8, 8, 3])
    through = TorchTrainer(cnn, dtype="mixed_float16", mode=mode)
    set_scale(through, 2.0 ** 22)
    full = fit(through, cnn, x, y, epochs=3)

    first = TorchTrainer(cnn, dtype="mixed_float16", mode=mode)
    set_scale(first, 2.0 ** 22)
    loop_state = fit_until_stopped(first, cnn, x, y, 9, epochs=3)  # in the second epoch (6 steps an epoch)
    weights, state = copies(first.get_weights()), first.state()
    assert {"loss_scale/scale", "loss_scale/good_steps", "loss_scale/skipped_steps"} <= set(state)
    assert 0 < state["loss_scale/skipped_steps"] < through.skipped_steps  # skips before and after the stop
    resumed = TorchTrainer(cnn, weights, dtype="mixed_float16", mode=mode)
    resumed.load_state(state)
    history = fit(resumed, cnn, x, y, epochs=3, resume=loop_state)
    assert_same(resumed.get_weights(), through.get_weights())
    assert_same(resumed.state(), through.state())
    assert resumed.skipped_steps == through.skipped_steps == sum(full.column("skipped_steps"))
    assert history.column("loss") == full.column("loss")


def test_a_resumed_run_reports_each_epochs_skipped_steps_as_the_run_that_went_through(monkeypatch):
    monkeypatch.setattr(precision, "GROWTH_INTERVAL", 4)
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))
    cnn = with_optimizer(CNN, MOMENTUM)
    x, y = data([8, 8, 3])
    runs = []
    for stop in (None, 9):
        trainer = TorchTrainer(cnn, dtype="mixed_float16")
        set_scale(trainer, 2.0 ** 22)
        if stop is None:
            runs.append(fit(trainer, cnn, x, y, epochs=3))
            continue
        loop_state = fit_until_stopped(trainer, cnn, x, y, stop, epochs=3)
        resumed = TorchTrainer(cnn, copies(trainer.get_weights()), dtype="mixed_float16")
        resumed.load_state(trainer.state())
        runs.append(fit(resumed, cnn, x, y, epochs=3, resume=loop_state))
    full, resumed = runs
    assert resumed.column("skipped_steps") == full.column("skipped_steps")


# ---- 5. DeviceSteps: deferred reads ---------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["float32", *MIXED])
def test_a_divergence_read_steps_later_is_reported_at_its_step_as_the_checked_path_reports_it(monkeypatch,
                                                                                             cnn, policy):
    """With no progress reads, the NaN of step 3 is found at the epoch's end: the same epoch, step, weights
    and state as the checked ``train_batch`` path, which stops at the step itself."""
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))
    x, y = data([8, 8, 3])
    bad = nan_at(x, cnn, 3)
    found = []
    for make in (lambda t: t, checked):
        trainer = make(TorchTrainer(cnn, dtype=policy))
        saved = []
        with pytest.raises(Diverged) as caught:
            fit(trainer, cnn, bad, y, on_checkpoint=lambda s: saved.append((s.step, s.batch)))
        found.append((trainer, caught.value, saved))
    (device, device_exc, device_saved), (host, host_exc, host_saved) = found
    assert (device_exc.epoch, device_exc.step, device_exc.weights_step) == \
        (host_exc.epoch, host_exc.step, host_exc.weights_step) == (1, 4, 3)
    assert device_exc.layer == host_exc.layer and str(device_exc) == str(host_exc)
    assert device_saved == host_saved == [(3, 3)]
    assert_same(device.get_weights(), host.get_weights())
    assert_same(device.state(), host.state())


def test_a_full_buffer_forces_a_read_without_changing_the_result(monkeypatch):
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))
    cnn = with_optimizer(CNN, MOMENTUM)
    x, y = data([8, 8, 3])
    results = []
    for pending in (device_steps.MAX_PENDING, 2):
        monkeypatch.setattr(device_steps, "MAX_PENDING", pending)
        trainer = TorchTrainer(cnn, dtype="mixed_float16")
        set_scale(trainer, 2.0 ** 22)
        reads = []
        read = device_steps.DeviceSteps.read
        monkeypatch.setattr(device_steps.DeviceSteps, "read", lambda self: reads.append(1) or read(self))
        history = fit(trainer, cnn, x, y, epochs=2)
        monkeypatch.setattr(device_steps.DeviceSteps, "read", read)
        results.append((trainer, history, len(reads)))
    (big, big_history, big_reads), (small, small_history, small_reads) = results
    assert (big_reads, small_reads) == (2, 6)  # 6 steps an epoch: read at its end, forced after steps 2 and 4
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in small_history.epochs] == \
        [{k: v for k, v in e.items() if k != "seconds"} for e in big_history.epochs]
    assert_same(small.get_weights(), big.get_weights())
    assert_same(small.state(), big.state())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_data_kept_in_host_memory_train_to_the_bits_of_data_on_the_device(monkeypatch, policy):
    """Data too big for the device stay in (pinned, on CUDA) host memory, each batch gathered there and copied
    one batch ahead: the same batches, so the same bits and history, as with the data on the device."""
    cnn = with_optimizer(CNN, MOMENTUM)
    x, y = data([8, 8, 3], n=88)  # 6 batches of 16 an epoch, the last one short; validation 24
    runs = []
    starts = []
    start = device_steps.HostBatches._start
    monkeypatch.setattr(device_steps.HostBatches, "_start", lambda self, rows: starts.append(len(rows)) or
                        start(self, rows))
    for on_device in (True, False):
        monkeypatch.setattr(device_steps, "fits_on_device", lambda device, nbytes, fits=on_device: fits)
        trainer = TorchTrainer(cnn, dtype=policy)
        history = loop.fit(trainer, cnn, x[:64], y[:64], x[64:], y[64:], epochs=2, seed=3)
        runs.append((trainer, history, list(starts)))
        starts.clear()
    (device, device_history, none), (host, host_history, starts) = runs
    assert none == [] and sum(starts) == 2 * 64 + 2 * 24  # every training and validation sample, gathered once
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in host_history.epochs] == \
        [{k: v for k, v in e.items() if k != "seconds"} for e in device_history.epochs]
    assert_same(host.get_weights(), device.get_weights())
    assert_same(host.state(), device.state())


def test_a_divergence_with_reads_forced_every_two_steps_is_still_at_its_step(monkeypatch, cnn):
    monkeypatch.setattr(device_steps, "MAX_PENDING", 2)
    monkeypatch.setattr(loop, "READ_EVERY", float("inf"))
    x, y = data([8, 8, 3])
    trainer = TorchTrainer(cnn, dtype="mixed_bfloat16")
    with pytest.raises(Diverged) as caught:
        fit(trainer, cnn, nan_at(x, cnn, 4), y)
    assert (caught.value.epoch, caught.value.step) == (1, 5)
    good = TorchTrainer(cnn, dtype="mixed_bfloat16")
    fit_until_stopped(good, cnn, x, y, 4)
    assert_same(trainer.get_weights(), good.get_weights())


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_the_progress_display_gets_the_running_loss_only_when_the_loop_reads(monkeypatch, mlp, policy):
    """READ_EVERY 0: every batch gets the epoch's running mean loss, as the checked path computes it;
    READ_EVERY unbounded: no batch gets one (nothing read until the epoch ends)."""
    x, y = data([6])
    seen = {}
    for every in (0.0, float("inf")):
        monkeypatch.setattr(loop, "READ_EVERY", every)
        got = []
        fit(TorchTrainer(mlp, dtype=policy), mlp, x, y, epochs=2,
            events=LoopEvents(batch_end=lambda b, loss: got.append(loss)))
        seen[every] = got
    assert len(seen[0.0]) == len(seen[float("inf")]) == 12
    assert all(isinstance(v, float) for v in seen[0.0]) and seen[float("inf")] == [None] * 12
    host = checked(TorchTrainer(mlp, dtype=policy))
    monkeypatch.setattr(loop, "READ_EVERY", 0.0)
    expected = []
    fit(host, mlp, x, y, epochs=2, events=LoopEvents(batch_end=lambda b, loss: expected.append(loss)))
    assert seen[0.0] == expected


@pytest.mark.parametrize("optimizer", [MOMENTUM, pytest.param("adam(learning_rate=0.01)")])
def test_when_the_loop_reads_changes_no_bit_of_a_mixed_float16_run_with_skipped_steps(monkeypatch, optimizer):
    """A read after every step (READ_EVERY 0) or only at the epoch ends: the same weights, state and losses,
    through steps that loss scaling skipped."""
    monkeypatch.setattr(precision, "GROWTH_INTERVAL", 4)
    cnn = with_optimizer(CNN, optimizer)
    x, y = data([8, 8, 3])
    runs = []
    for every in (0.0, float("inf")):
        monkeypatch.setattr(loop, "READ_EVERY", every)
        trainer = TorchTrainer(cnn, dtype="mixed_float16")
        set_scale(trainer, 2.0 ** 22)
        runs.append((trainer, fit(trainer, cnn, x, y, epochs=3)))
    (each, each_history), (ends, ends_history) = runs
    assert ends.skipped_steps == each.skipped_steps >= 4
    assert each_history.column("loss") == ends_history.column("loss")
    assert_same(each.get_weights(), ends.get_weights())
    assert_same(each.state(), ends.state())


# ---- 7. TF32 and determinism -----------------------------------------------------------------------------
@pytest.fixture
def torch_switches(monkeypatch):
    """Every switch ``configure`` may set, put back afterwards."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    yield
    (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,
     torch.backends.cudnn.benchmark) = saved[:4]
    torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])


def switches():
    return {"matmul tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn tf32": torch.backends.cudnn.allow_tf32,
            "cudnn deterministic": torch.backends.cudnn.deterministic, "cudnn benchmark": torch.backends.cudnn.benchmark,
            "deterministic algorithms": torch.are_deterministic_algorithms_enabled()}


def test_configure_sets_tf32_explicitly_both_ways_for_a_cuda_device(torch_switches):
    """Setting the flags needs no GPU: PyTorch's defaults (matmul off, cuDNN on) are never left standing."""
    cuda = torch.device("cuda:0")
    configure(cuda, tf32=True, deterministic=False)
    assert switches() == {"matmul tf32": True, "cudnn tf32": True, "cudnn deterministic": False,
                          "cudnn benchmark": True, "deterministic algorithms": False}
    configure(cuda, tf32=False, deterministic=False)
    assert switches()["matmul tf32"] is False and switches()["cudnn tf32"] is False


def test_configure_switches_deterministic_algorithms_on_and_off_as_asked(torch_switches):
    cuda = torch.device("cuda:0")
    configure(cuda, tf32=False, deterministic=True)
    assert switches() == {"matmul tf32": False, "cudnn tf32": False, "cudnn deterministic": True,
                          "cudnn benchmark": False, "deterministic algorithms": True}
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # an op without a deterministic kernel warns
    configure(cuda, tf32=False, deterministic=False)  # a later run that did not ask for it
    assert switches()["deterministic algorithms"] is False and switches()["cudnn benchmark"] is True
    configure(torch.device("cpu"), tf32=False, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    configure(torch.device("cpu"), tf32=False, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_cpu_trainer_leaves_the_cuda_switches_alone(torch_switches, mlp):
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    before = switches()
    TorchTrainer(mlp, tf32=False)
    assert switches() == before
