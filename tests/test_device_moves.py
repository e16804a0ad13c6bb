"""Checkpoints and weights move between devices, tested on the CPU: what the torch trainer checkpoints is
plain host NumPy (no tensor, no device, no random-generator state: native dropout is reseeded from (seed,
step)), so a run stopped on one device resumes on another; ``nnspec train --device cpu`` stopped and
resumed with ``--device auto`` ends bit for bit as the run that went through, each session recorded; a
Keras ``mixed_float16`` checkpoint resumes; and ``weights.npz`` of a mixed-precision torch run loads into
the NumPy backend in float32 and predicts what the torch run predicts, to half precision. A real move between
a GPU and the CPU is tests/test_cuda.py's (skipped without CUDA)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from frameworks import need

from backends.numpy.trainer import NumpyTrainer
from compiler.pipeline import compile_text
from resume_cases import sigint_during_step, without_time
from runtime.checkpoint import FILENAME
from write_faults import SPEC, invoke, write_spec

DROPOUT_SPEC = SPEC.replace("    Dense(3, activation=softmax)", "    Dropout(0.3)\n    Dense(3, activation=softmax)")
HALF_TOLERANCE = {"mixed_bfloat16": 2e-2, "mixed_float16": 3e-3}  # the outputs' largest difference, probabilities


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def weights_of(run: Path) -> dict[str, np.ndarray]:
    with np.load(run / "weights.npz", allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def checkpoint_meta(run: Path) -> dict:
    with np.load(run / FILENAME, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


def train(spec: Path, out: Path, *args, stop_at: int | None = None):
    """``nnspec train SPEC --out OUT ARGS -q``; with ``stop_at``, a SIGINT inside that step (exit 130)."""
    if stop_at is None:
        result = invoke("train", spec, "--out", out, "-q", *args)
        assert result.exit_code == 0, result.output
        return result
    with sigint_during_step(stop_at):
        result = invoke("train", spec, "--out", out, "-q", *args)
    assert result.exit_code == 130, result.output
    return result


def resume(run: Path, spec: Path, *args):
    result = invoke("train", spec, "--resume", run, "-q", *args)
    assert result.exit_code == 0, result.output
    return result


def assert_same_weights(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ---- what a torch checkpoint holds --------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["canonical", "native"])
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_the_torch_state_is_plain_host_numpy_with_no_generator_state(policy, mode):
    """Every value of ``state()`` and ``get_weights()`` is a NumPy array owning its memory (no tensor, nothing
    that a later step changes), named after the optimizer or the loss scale only: no random state to carry
    across devices, since native dropout is reseeded each step from (seed, step)."""
    torch = need("torch")
    from backends.torch.trainer import TorchTrainer

    spec = compile_text(DROPOUT_SPEC).spec
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    trainer = TorchTrainer(spec, dtype=policy, mode=mode)
    trainer.train_batch(x, y, 0, 0.01)
    state, weights = trainer.state(), trainer.get_weights()
    kept = {k: v.copy() for k, v in {**state, **weights}.items()}
    for key, value in {**state, **weights}.items():
        assert type(value) is np.ndarray and not isinstance(value, torch.Tensor), key
        assert value.base is None or not isinstance(value.base, torch.Tensor), key
    assert all(k.split("/")[0] in ("optimizer", "loss_scale") for k in state), sorted(state)
    assert ("loss_scale/scale" in state) == (policy == "mixed_float16")
    trainer.train_batch(x, y, 1, 0.01)
    for key, value in {**state, **weights}.items():  # copies: the next step changed none of them
        np.testing.assert_array_equal(value, kept[key], err_msg=key)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_native_dropout_needs_no_generator_state_to_continue(policy):
    """A trainer built afresh from another's weights and state, at step 3, draws the masks the first one
    draws at step 3: the steps agree bit for bit (what a move to another device relies on)."""
    need("torch")
    from backends.torch.trainer import TorchTrainer

    spec = compile_text(DROPOUT_SPEC).spec
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 3, 16)
    first = TorchTrainer(spec, dtype=policy, mode="native")
    for step in range(3):
        first.train_batch(x, y, step, 0.01)
    second = TorchTrainer(spec, first.get_weights(), dtype=policy, mode="native", seed=spec.training.seed)
    second.load_state(first.state())
    for step in range(3, 6):
        a, b = first.train_batch(x, y, step, 0.01), second.train_batch(x, y, step, 0.01)
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1])
    assert_same_weights(first.get_weights(), second.get_weights())


# ---- through the command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_torch_run_stopped_on_cpu_resumes_with_device_auto_bit_for_bit(monkeypatch, tmp_path, policy):
    """``--device cpu`` stopped at step 10, resumed with ``--device auto`` (the CPU here; a GPU where PyTorch
    sees one): accepted, the same weights.npz and history as a run that went through, and run.json says
    where each session ran."""
    torch = need("torch")
    spec = write_spec(tmp_path)
    run, full = tmp_path / "run", tmp_path / "full"
    args = ("--backend", "torch", "--dtype", policy)
    train(spec, full, *args, "--device", "cpu")
    train(spec, run, *args, "--device", "cpu", stop_at=10)
    assert run_json(run)["device"] == "cpu" and run_json(run)["outcome"].startswith("interrupted")
    assert checkpoint_meta(run)["overrides"]["device"] == "cpu"
    resume(run, spec, "--device", "auto")
    auto = "cuda:0" if torch.cuda.is_available() else "cpu"
    info = run_json(run)
    assert (info["device"], info["dtype"]) == (auto, policy)
    assert checkpoint_meta(run)["overrides"]["device"] == "auto"
    if auto == "cpu":
        assert_same_weights(weights_of(run), weights_of(full))
        history = [json.loads((d / "history.json").read_text()) for d in (run, full)]
        assert without_time(history[0]) == without_time(history[1])
    if policy == "mixed_float16":
        assert info["skipped_steps"] == run_json(full)["skipped_steps"] >= 1
    else:
        assert "skipped_steps" not in info


def test_a_keras_mixed_float16_checkpoint_resumes_as_the_run_that_went_through(tmp_path):
    need("keras")
    spec = write_spec(tmp_path)
    run, full = tmp_path / "run", tmp_path / "full"
    args = ("--backend", "keras", "--dtype", "mixed_float16", "--device", "cpu")
    train(spec, full, *args)
    train(spec, run, *args, stop_at=10)
    with np.load(run / FILENAME, allow_pickle=False) as data:
        assert {f"trainer/loss_scale/{k}" for k in ("scale", "good_steps", "skipped_steps")} <= set(data.files)
    resume(run, spec, "--device", "auto")
    assert_same_weights(weights_of(run), weights_of(full))
    assert run_json(run)["skipped_steps"] == run_json(full)["skipped_steps"]
    assert run_json(run)["dtype"] == "mixed_float16"


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_weights_of_a_mixed_torch_run_predict_in_numpy_float32_as_torch_does(tmp_path, policy):
    """weights.npz has one format: a mixed-precision torch run's float32 weights load into the NumPy backend,
    whose float32 predictions are the torch run's to within half precision's rounding."""
    need("torch")
    from backends.torch.trainer import TorchTrainer
    from runtime.data import load_dataset

    spec_path = write_spec(tmp_path)
    run = tmp_path / "run"
    train(spec_path, run, "--backend", "torch", "--dtype", policy, "--device", "cpu")
    weights = weights_of(run)
    assert {w.dtype for w in weights.values()} == {np.dtype(np.float32)}
    spec = compile_text(SPEC).spec
    x = load_dataset(spec).x_train
    y = np.zeros(len(x), dtype=np.int64)
    _, torch_out = TorchTrainer(spec, weights, dtype=policy).evaluate_batch(x, y)
    _, numpy_out = NumpyTrainer(spec, weights, dtype=np.float32).evaluate_batch(x, y)
    _, exact = TorchTrainer(spec, weights, dtype="float32").evaluate_batch(x, y)
    np.testing.assert_allclose(numpy_out, exact, rtol=0, atol=1e-6)  # the same model in float32
    difference = np.abs(numpy_out - torch_out).max()
    assert 0 < difference < HALF_TOLERANCE[policy]
    assert (numpy_out.argmax(1) == torch_out.argmax(1)).mean() > 0.95
