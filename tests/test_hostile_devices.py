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


# ---- the torch backend's device steps against the checked host steps, in every corner -----------------

LOSS_CASES = [  # (loss, output units, output activation, targets)
    ("binary_crossentropy", 1, "sigmoid", "binary"), ("binary_crossentropy(from_logits=true)", 1, "linear", "binary"),
    ("categorical_crossentropy", 3, "softmax", "onehot"),
    ("categorical_crossentropy(from_logits=true)", 3, "linear", "onehot"),
    ("sparse_categorical_crossentropy", 3, "softmax", "sparse"),
    ("sparse_categorical_crossentropy(from_logits=true)", 3, "linear", "sparse"),
    ("mse", 1, "linear", "values"), ("mae", 1, "linear", "values")]
OPTIMIZERS = ["sgd(learning_rate=0.05)", "sgd(learning_rate=0.05, momentum=0.9, nesterov=true)",
              "adam(learning_rate=0.01)", "adam(learning_rate=0.01, amsgrad=true)", "adamw(learning_rate=0.01)",
              "rmsprop(learning_rate=0.01, centered=true, momentum=0.5)", "adagrad(learning_rate=0.1)"]
CLIPS = ["", "clip_norm = 0.1", "clip_value = 0.01"]
SIZES = [(1, 1, 0), (7, 32, 0), (9, 4, 0), (20, 3, 0.25), (2, 64, 0.5)]  # samples, batch size, validation_split
# every loss, optimizer, clipping and size at least once per precision and mode, without the whole product
CORNERS = [(LOSS_CASES[i % 8], OPTIMIZERS[i % 7], CLIPS[i % 3], SIZES[i % 5]) for i in range(8 * 7)]


def corner_spec(loss, units, activation, optimizer, clip, batch_size, validation_split, metrics):
    return compile_text(f"""model m {{
    Input([5])
    Dense(7, activation=relu)
    Dropout(0.2)
    Dense({units}, activation={activation})
}}
train {{
    loss = {loss}
    optimizer = {optimizer}
    batch_size = {batch_size}
    epochs = 2
    seed = 3
    metrics = [{", ".join(metrics)}]
    validation_split = {validation_split}
    {clip}
}}
""", "m.nns").spec


def corner_data(targets: str, n: int):
    import numpy as np

    x = np.random.default_rng(n).normal(size=(n, 5)).astype(np.float32)
    classes = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    y = {"binary": (x[:, :1] > 0).astype(np.float32), "sparse": classes,
         "onehot": np.eye(3, dtype=np.float32)[classes], "values": x[:, :2].sum(1, keepdims=True)}[targets]
    return x, y


class CheckedSteps:
    """The trainer with its own steps hidden, so that the loop drives it through ``runtime.loop.HostSteps``."""

    steps = None

    def __init__(self, trainer):
        self.trainer = trainer

    def __getattr__(self, name):
        return getattr(self.trainer, name)


@pytest.mark.parametrize("dtype", ["float32", "float64", "mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("mode", ["canonical", "native"])
def test_device_steps_train_to_the_bits_and_history_of_the_checked_steps_in_every_corner(dtype, mode):
    """Through ``loop.fit``, the torch backend's ``DeviceSteps`` and the checked ``HostSteps`` over
    ``train_batch`` end with the same weights bit for bit and the same history (1e-6 relative) for every loss
    (with and without logits), every metric its targets allow (accuracy on binary, one-hot and class-index
    targets; mse, mae, rmse), every optimizer, clip_norm and clip_value, one sample, a batch larger than the
    data, an epoch of one step, with and without validation data."""
    import numpy as np

    from frameworks import need
    from runtime.data import split
    from runtime.loop import fit
    from runtime.trainers import make_trainer

    need("torch")
    for (loss, units, activation, targets), optimizer, clip, (n, batch_size, validation_split) in CORNERS:
        metrics = ["accuracy"] + ([] if targets == "sparse" else ["mse", "mae", "rmse"])
        spec = corner_spec(loss, units, activation, optimizer, clip, batch_size, validation_split, metrics)
        x_train, y_train, x_val, y_val = split(*corner_data(targets, n), validation_split, 3)
        ends = []
        for wrap in (CheckedSteps, lambda trainer: trainer):
            trainer = wrap(make_trainer("torch", spec, weights=None, dtype=dtype, seed=3, mode=mode,
                                        adapt_on=x_train))
            history = fit(trainer, spec, x_train, y_train, x_val, y_val, epochs=2, seed=3)
            ends.append(({k: np.array(v) for k, v in trainer.get_weights().items()}, history.epochs))
        (checked_weights, checked), (own_weights, own) = ends
        case = f"{loss}, {optimizer}, {clip or 'no clipping'}, {n} samples in batches of {batch_size}"
        for k, v in checked_weights.items():
            np.testing.assert_array_equal(own_weights[k], v, err_msg=f"{k}: {case}")
        assert [e.keys() for e in own] == [e.keys() for e in checked], case
        for a, b in zip(own, checked):
            for key in set(a) - {"seconds"}:
                assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7, nan_ok=True), f"{key}: {case}"


@pytest.mark.parametrize("text", ["shapes(size=8, channels=1)", "shapes(n_samples=10.0)", "spirals(classes=2)",
                                  "shapes(size=0)", "shapes("])
def test_data_with_arguments_on_the_command_line_says_where_arguments_go(text, tmp_path, monkeypatch):
    """``--data`` takes a name (a generated set with its defaults) or a file; ``shapes(size=8)`` was called
    "neither a bundled nor a generated data set", or a missing file when it held a dot. The message says
    that arguments belong in the spec's train section; nothing is written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(DIGITS)
    before = listing(tmp_path)
    result = runner.invoke(app, ["train", "m.nns", "--data", text, "-q", "--out", "run"])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert "train section" in result.output and "does not exist" not in result.output, result.output
    assert listing(tmp_path) == before


def test_a_data_file_named_like_a_call_is_still_a_file(tmp_path, monkeypatch):
    """``shapes (1).npz`` (a browser's second download) is a file, not a data set with arguments."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.nns").write_text(DIGITS)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "shapes (1).npz", x=rng.normal(size=(40, 64)), y=np.arange(40) % 10)
    result = runner.invoke(app, ["train", "m.nns", "--data", "shapes (1).npz", "-q", "--out", "run"])
    assert result.exit_code == 0, result.output
