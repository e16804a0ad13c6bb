"""The PyTorch backend on a CUDA GPU, through the CLI: what issue 10 promises there.

- canonical float64 on CUDA agrees with the NumPy reference below 1e-9 after 50 steps on every example
  spec (``nnspec equiv --backends numpy,torch --device cuda``);
- native ``train --device cuda --deterministic`` twice with one seed gives bit-identical weights;
- a run checkpointed on CUDA resumes on the CPU and the other way round, and ends where an uninterrupted
  run ends (canonical float64, so the devices agree to round-off);
- mixed_bfloat16 and mixed_float16 train on CUDA (the loss falls; run.json records the policy, and
  mixed_float16 the steps its loss scaling skipped);
- weights.npz written by a CUDA run loads into a CPU trainer and predicts what the NumPy reference does.

Every test is skipped, with the reason, where PyTorch sees no CUDA device (CI, the 2-core development
machine). ``benchmarks/gpu_session.sh`` runs this file on a GPU machine.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from example_specs import CONCRETE
from frameworks import need

torch = need("torch")

from cli import app  # noqa: E402
from compiler.pipeline import compile_file  # noqa: E402
from resume_cases import iris_resume_spec, without_time  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from runtime.run_dir import load_weights  # noqa: E402
from runtime.trainers import make_trainer  # noqa: E402
from tools.equiv import relative_error  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="PyTorch sees no CUDA device here (torch.cuda.is_available() is False)")

ROOT = Path(__file__).resolve().parent.parent
# every example spec; the seed CNN (128x128 convolutions, slow in NumPy float64) last, so that a session
# with little GPU time left (benchmarks/gpu_session.sh bounds the run) loses the fewest cases
SPECS = sorted((p.stem for p in CONCRETE), key=lambda name: (name == "seed_cnn", name))
CUDA = "cuda"  # as a user types it
GPU = "cuda:0"  # as nnspec resolves and records it
runner = CliRunner()
# NumPy's reference side of equiv in float64 is the slow one (the seed CNN's 128x128 convolutions): let
# it use the GPU machine's cores; the thread count changes no result beyond round-off.
THREADS = str(max(1, min(16, len(os.sched_getaffinity(0)))))


def invoke(*args) -> str:
    """Run ``nnspec ARGS`` in this process; exit 0 is required, the output returned."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def weights_of(run: Path) -> dict[str, np.ndarray]:
    return load_weights(run / "weights.npz")


def history_of(run: Path) -> list[dict]:
    return json.loads((run / "history.json").read_text())


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


# ---- native mode: --deterministic repeats bit for bit --------------------------------------------
def test_native_training_on_cuda_with_deterministic_repeats_bit_for_bit(tmp_path):
    spec = ROOT / "specs" / "vgg_cnn.nns"  # convolutions, BatchNormalization, dropout: where GPUs vary
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        invoke("train", spec, "--backend", "torch", "--device", CUDA, "--deterministic", "--seed", 11, "--epochs", 2,
               "--out", out, "-q")
        runs.append(out)
    a, b = weights_of(runs[0]), weights_of(runs[1])
    assert sorted(a) == sorted(b)
    assert all(a[k].dtype == np.float32 and np.array_equal(a[k], b[k]) for k in a)
    assert without_time(history_of(runs[0])) == without_time(history_of(runs[1]))
    info = run_json(runs[0])
    assert info["device"] == GPU and info["deterministic"] is True


# ---- checkpoints move between devices ------------------------------------------------------------
@contextlib.contextmanager
def stop_after_steps(steps: int):
    """``runtime.loop.fit`` as ``nnspec train`` calls it, but asked to stop (as Ctrl-C asks it) at the
    step boundary after ``steps`` steps: the run writes its checkpoint and exits 130."""
    import runtime.loop as loop

    original = loop.fit

    def fit(*args, should_stop=None, **kwargs):
        polls = {"n": 0}

        def stop():
            polls["n"] += 1
            return polls["n"] > steps or bool(should_stop and should_stop())

        return original(*args, should_stop=stop, **kwargs)

    loop.fit = fit
    try:
        yield
    finally:
        loop.fit = original


@pytest.mark.parametrize("first, then", [(CUDA, "cpu"), ("cpu", CUDA)], ids=["cuda-to-cpu", "cpu-to-cuda"])
def test_a_run_checkpointed_on_one_device_resumes_on_the_other_and_ends_as_an_uninterrupted_run(tmp_path, first,
                                                                                                  then):
    spec = tmp_path / "m.nns"
    spec.write_text(iris_resume_spec(3))  # BatchNormalization, dropout, Adam, a schedule, early stopping
    options = ["--backend", "torch", "--mode", "canonical", "--dtype", "float64", "--deterministic"]
    out = tmp_path / "run"
    with stop_after_steps(11):  # inside epoch 2 (8 steps an epoch)
        result = runner.invoke(app, ["train", str(spec), *options, "--device", first, "--out", str(out), "-q"])
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    output = invoke("train", spec, "--resume", out, "--device", then)
    assert "resuming at epoch 2" in output
    assert run_json(out)["device"] == (GPU if then == CUDA else "cpu")
    full = tmp_path / "full"
    invoke("train", spec, *options, "--device", first, "--out", full, "-q")
    resumed, uninterrupted = history_of(out), history_of(full)
    assert [e["epoch"] for e in resumed] == [e["epoch"] for e in uninterrupted] == [1, 2, 3]
    for r, u in zip(resumed, uninterrupted):  # float64 canonical: the two devices agree to round-off
        assert relative_error(np.array([r["loss"]]), np.array([u["loss"]])) < 1e-9, (r, u)
    a, b = weights_of(out), weights_of(full)
    assert sorted(a) == sorted(b)
    assert all(relative_error(a[k], b[k]) < 1e-9 for k in a), {k: relative_error(a[k], b[k]) for k in a}


# ---- mixed precision -----------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_on_cuda_and_run_json_records_it(tmp_path, policy):
    out = tmp_path / "run"
    invoke("train", ROOT / "specs" / "vgg_cnn.nns", "--backend", "torch", "--device", CUDA, "--dtype", policy,
           "--epochs", 3, "--out", out, "-q")
    history, info = history_of(out), run_json(out)
    assert history[-1]["loss"] < history[0]["loss"], history
    assert info["dtype"] == policy and info["device"] == GPU
    weights = weights_of(out)
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights.values())  # float32 master weights
    if policy == "mixed_float16":  # loss scaling: skipped steps are counted, not divergence
        assert isinstance(info["skipped_steps"], int) and info["skipped_steps"] >= 0
        assert all(isinstance(e["skipped_steps"], int) for e in history)  # each epoch's own
        assert info["skipped_steps"] == sum(e["skipped_steps"] for e in history)  # the run's total
        assert info["skipped_steps"] < 3 * 45  # most of the 3 x 45 steps were applied


# ---- weights cross devices -----------------------------------------------------------------------
def test_weights_from_a_cuda_run_load_into_a_cpu_trainer_and_predict_as_numpy_does(tmp_path):
    spec_path = ROOT / "specs" / "digits_mlp.nns"
    out = tmp_path / "run"
    invoke("train", spec_path, "--backend", "torch", "--device", CUDA, "--epochs", 2, "--out", out, "-q")
    weights = weights_of(out)
    spec = compile_file(spec_path).spec
    data = load_dataset(spec, dtype=np.float32)
    cpu = make_trainer("torch", spec, weights=weights, dtype=np.float32, mode="canonical", device="cpu")
    assert all(np.array_equal(w, weights[k]) for k, w in cpu.get_weights().items())
    reference = make_trainer("numpy", spec, weights=weights, dtype=np.float32, mode="canonical")
    on_cuda = make_trainer("torch", spec, weights=weights, dtype=np.float32, mode="canonical", device=GPU)
    expected = np.asarray(reference.evaluate_batch(data.x_val, data.y_val)[1])
    for trainer in (cpu, on_cuda):
        predicted = np.asarray(trainer.evaluate_batch(data.x_val, data.y_val)[1])
        assert relative_error(predicted, expected) < 1e-5


# ---- canonical mode: the equivalence proof on a GPU (last: the slowest) ---------------------------
@pytest.mark.parametrize("spec_name", SPECS)
def test_canonical_float64_on_cuda_agrees_with_numpy_below_1e_9_after_50_steps(tmp_path, spec_name):
    out = tmp_path / "equiv"
    output = invoke("equiv", ROOT / "specs" / f"{spec_name}.nns", "--backends", "numpy,torch", "--device", CUDA,
                    "--steps", 50, "--dtype", "float64", "--tolerance", "1e-9", "--threads", THREADS, "--out", out)
    assert "equivalent: largest relative difference" in output
    assert f"torch on {GPU}" in output  # the header says where each backend ran
    report = json.loads((out / "equiv.json").read_text())
    assert report["devices"] == {"numpy": "cpu", "torch": GPU}
    torch_side = report["diverged"]["torch"]
    assert torch_side["step"] is None and torch_side["layer"] is None
    assert torch_side["max_loss_error"] < 1e-9 and max(torch_side["weight_errors"].values()) < 1e-9
