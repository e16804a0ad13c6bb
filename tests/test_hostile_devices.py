"""A hostile and a careless user against what issue 10 added (devices, precisions, the device-resident loop,
the ``shapes`` data set): every problem they can cause is one line and exit 2 with nothing written, never an
internal error; the torch backend's own steps train to the bits of the checked host steps in every corner."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS
from compiler.pipeline import compile_text
from hostile_files import listing
from spec_lang.diagnostics import SpecError

runner = CliRunner()


def sparse_spec(metrics: str) -> str:
    return f"""model m {{
    Input([4])
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = sgd(learning_rate=0.01)
    batch_size = 8
    epochs = 1
    metrics = [{metrics}]
    data = iris
}}
"""


@pytest.mark.parametrize("metric", ["mse", "mae", "rmse"])
def test_a_value_metric_on_class_index_targets_is_a_compile_error(metric):
    """mse/mae/rmse compare outputs with targets of their shape; sparse_categorical_crossentropy's targets
    are class indices (one per sample), which would broadcast against the outputs (an internal error on every
    backend before, or a silently wrong mean for a one-unit output). Refused when compiled."""
    with pytest.raises(SpecError) as err:
        compile_text(sparse_spec(f"accuracy, {metric}"), "m.nns")
    assert f"metric {metric}" in str(err.value) and "class indices" in str(err.value)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_train_refuses_a_value_metric_on_class_indices_and_writes_nothing(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(sparse_spec("accuracy, mse"))
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", "m.nns", "--backend", backend, "-q", "--out", "run"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "class indices" in result.output
    assert listing(tmp_path) == before


DIGITS = """model m {
    Input([64])
    Dense(10, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = sgd(learning_rate=0.01)
    batch_size = 64
    epochs = 1
    data = digits
}
"""


@pytest.mark.parametrize("command", ["train", "equiv", "diagnose", "lr-find"])
def test_a_thread_count_beyond_the_limit_is_a_usage_error(command, tmp_path, monkeypatch):
    """``--threads 100000`` made OpenBLAS fail to start its threads and the process crash (SIGSEGV): a
    count above ``backends.threads.MAX_THREADS`` is refused before anything runs."""
    from backends.threads import MAX_THREADS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(DIGITS)
    before = listing(tmp_path)
    result = runner.invoke(app, [command, "m.nns", "--threads", str(MAX_THREADS + 1)])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "--threads" in result.output and str(MAX_THREADS) in result.output
    assert listing(tmp_path) == before


def test_a_checkpoint_recording_too_many_threads_is_refused_as_a_checkpoint_error(tmp_path, monkeypatch):
    """A checkpoint edited to record ``threads`` beyond the limit is one line naming it (it crashed the
    resumed process), the run directory unchanged."""
    import json

    import numpy as np

    from backends.threads import MAX_THREADS

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(DIGITS)
    assert runner.invoke(app, ["train", "m.nns", "-q", "--out", "run"]).exit_code == 0
    path = tmp_path / "run" / "checkpoint.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["overrides"]["threads"] = MAX_THREADS * 100
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", "m.nns", "--resume", "run", "--epochs", "2", "-q"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "overrides.threads" in result.output
    assert listing(tmp_path) == before


def edit_checkpoint(path, **arrays_changed) -> None:
    """Replace arrays of a checkpoint file (the same dtype), as a hostile or careless hand would."""
    import numpy as np

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for key, value in arrays_changed.items():
        arrays[key] = np.array(value, dtype=arrays[key].dtype)
    np.savez(path, **arrays)


SCALE, GOOD, SKIPPED = "trainer/loss_scale/scale", "trainer/loss_scale/good_steps", "trainer/loss_scale/skipped_steps"


@pytest.fixture(scope="module", params=["torch", "keras"])
def mixed_float16_run(request, tmp_path_factory):
    """A finished two-epoch mixed_float16 run of the backend (a checkpoint to edit), and its spec."""
    from frameworks import need

    need(request.param)
    root = tmp_path_factory.mktemp(f"mixed-{request.param}")
    (root / "m.nns").write_text(DIGITS)
    result = runner.invoke(app, ["train", str(root / "m.nns"), "-b", request.param, "--dtype", "mixed_float16",
                                 "--epochs", "2", "-q", "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("key, value, named", [
    (SCALE, 0.0, "positive power of two"), (SCALE, -32768.0, "positive power of two"),
    (SCALE, 3.0, "positive power of two"), (GOOD, -1, "0 to 1999"), (GOOD, 10**12, "0 to 1999"),
    (GOOD, 2000, "0 to 1999"), (SKIPPED, -5, "more than"), (SKIPPED, 10**15, "more than")])
def test_a_loss_scale_state_no_run_can_reach_is_refused(mixed_float16_run, key, value, named, tmp_path):
    """A checkpoint's loss scale edited by hand: a scale of 0 skipped every step and then blamed the update
    for divergence, a negative one trained on, a huge growth count was an internal error (torch), negative or
    impossible skipped_steps went into run.json. Each is one line naming the state, the run unchanged."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(mixed_float16_run / "run", run)
    edit_checkpoint(run / "checkpoint.npz", **{key: value})
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", str(mixed_float16_run / "m.nns"), "--resume", str(run), "--epochs", "3",
                                 "-q"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert key.removeprefix("trainer/") in result.output and named in result.output, result.output
    assert listing(tmp_path) == before


@pytest.mark.parametrize("backend", ["numpy", "torch", "keras"])
@pytest.mark.parametrize("iterations", [-5, 10**15])
def test_an_optimizer_step_count_beyond_the_steps_taken_is_refused(backend, iterations, tmp_path):
    """A checkpoint's optimizer iteration count edited to a negative number was an internal error (torch: a
    math domain error in Adam's correction) or a false divergence (Keras); one beyond the steps taken trained
    on with wrong bias corrections. Each is one line naming the state, the run unchanged."""
    from frameworks import need

    if backend != "numpy":
        need(backend)
    (tmp_path / "m.nns").write_text(DIGITS.replace("sgd(learning_rate=0.01)", "adam"))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(tmp_path / "m.nns"), "-b", backend, "-q", "--out", str(run)])
    assert result.exit_code == 0, result.output
    import numpy as np

    with np.load(run / "checkpoint.npz") as z:
        key = next(k for k in z.files if k.startswith("trainer/optimizer/iteration"))
    edit_checkpoint(run / "checkpoint.npz", **{key: iterations})
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", str(tmp_path / "m.nns"), "--resume", str(run), "--epochs", "2", "-q"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert key.removeprefix("trainer/") in result.output and "steps taken" in result.output, result.output
    assert listing(tmp_path) == before
