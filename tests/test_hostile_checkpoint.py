"""`--resume` with a tampered checkpoint: every variant is refused with one line saying what is wrong
(exit 2), before anything is touched — the run directory stays byte for byte as it was. And the
command-line options of the run are recorded in the checkpoint and used on resume."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from runtime.checkpoint import FILENAME, load_checkpoint
from resume_cases import iris_resume_spec
from write_faults import error_lines, interrupted_run, invoke, snapshot, write_spec


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A run of the resume spec (BatchNormalization, Dropout, Adam, a schedule, early stopping that keeps
    best weights) interrupted in its second epoch, after step 11 of 8 per epoch."""
    base = tmp_path_factory.mktemp("checkpointed")
    spec = write_spec(base, iris_resume_spec(6))
    interrupted_run(spec, base / "run", at_step=11)
    state, _, _, _ = load_checkpoint(base / "run")
    assert (state.epoch, state.batch, state.step, len(state.history.epochs)) == (1, 3, 11, 1)
    assert state.best_weights is not None and state.sums["count"] == 48
    return spec, base / "run"


def tamper(run_dir, change) -> None:
    """Rewrite the checkpoint with ``change(arrays, document)`` applied (it may return new arrays)."""
    path = run_dir / FILENAME
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    document = json.loads(str(arrays.pop("meta")))
    document = change(arrays, document) or document
    arrays["meta"] = np.array(json.dumps(document))
    np.savez(path, **arrays)


def set_(key, value):
    def change(arrays, document):
        document[key] = value
    return change


def drop(key):
    def change(arrays, document):
        del document[key]
    return change


def array(key, make):
    def change(arrays, document):
        if make is None:
            del arrays[key]
        else:
            arrays[key] = make(arrays.get(key))
    return change


def whole_document(value):
    def change(arrays, document):
        return value
    return change


def sums(key, value):
    def change(arrays, document):
        if value is None:
            del document["sums"][key]
        else:
            document["sums"][key] = value
    return change


def stopper(key, value):
    def change(arrays, document):
        document["stopper"][key] = value
    return change


def pickled_weights(arrays, document):
    arrays["weights/dense/kernel"] = np.array([object()] * 3, dtype=object)


KERNEL = "weights/dense/kernel"
SLOT = "trainer/optimizer/momentum/dense/kernel"

# variant -> (how the checkpoint is changed, what the message must say)
TAMPERING = {
    # weights
    "wrong shape": (array(KERNEL, lambda a: np.zeros((5, 16), np.float32)), "'dense/kernel' has shape (5, 16)"),
    "missing weight": (array("weights/dense/bias", None), "lacks weight 'dense/bias'"),
    "extra weight": (array("weights/dense_9/kernel", lambda a: np.zeros(3, np.float32)),
                     "'dense_9/kernel', which model m does not have"),
    "integer weights": (array(KERNEL, lambda a: a.astype(np.int64)), "'dense/kernel' is int64"),
    "string weights": (array(KERNEL, lambda a: np.full(a.shape, "w")), "the run trains in float32"),
    "float64 weights": (array(KERNEL, lambda a: a.astype(np.float64)), "'dense/kernel' is float64"),
    "NaN weights": (array(KERNEL, lambda a: np.where(a > 0, np.nan, a).astype(a.dtype)), "NaN or infinite"),
    "infinite moving variance": (array("weights/batch_normalization/moving_variance",
                                       lambda a: np.full_like(a, np.inf)), "NaN or infinite"),
    "pickled weights": (pickled_weights, "holds Python objects"),
    "NaN best weights": (array("best/dense/kernel", lambda a: np.full_like(a, np.nan)), "best weight"),
    "best weights of another shape": (array("best/dense_1/bias", lambda a: np.zeros(4, np.float32)),
                                      "best weight 'dense_1/bias' has shape (4,)"),
    "best weights missing": (lambda arrays, document: [arrays.pop(k) for k in list(arrays) if k.startswith("best/")]
                             and None, "has_best_weights=True but holds 0"),
    # trainer state
    "missing optimizer slot": (array(SLOT, None), "lacks trainer state 'optimizer/momentum/dense/kernel'"),
    "extra trainer state": (array("trainer/optimizer/nonsense", lambda a: np.zeros(2)), "does not keep"),
    "slot of another shape": (array(SLOT, lambda a: np.zeros((2, 2), np.float32)), "of shape (2, 2), expected"),
    "integer slot": (array(SLOT, lambda a: a.astype(np.int32)), "is int32 of shape"),
    "NaN slot": (array(SLOT, lambda a: np.full_like(a, np.nan)), "'optimizer/momentum/dense/kernel' holds NaN"),
    "float step counter": (array("trainer/optimizer/iterations", lambda a: a.astype(np.float64)), "is float64"),
    "stray array": (array("junk", lambda a: np.zeros(1)), "outside the weights, trainer and best groups"),
    # metadata of the wrong type
    "metadata not an object": (whole_document([1, 2, 3]), "not a JSON object"),
    "epoch as a string": (set_("epoch", "1"), "'epoch' = '1'"),
    "epoch as a float": (set_("epoch", 1.0), "'epoch' = 1.0"),
    "epoch as a boolean": (set_("epoch", True), "'epoch' = True"),
    "history not a list": (set_("history", {"epoch": 1}), "'history'"),
    "history entry not numbers": (set_("history", [{"epoch": 1, "loss": "low"}]), "'history.0.loss'"),
    "stopped_early as a string": (set_("stopped_early", "no"), "'stopped_early' = 'no'"),
    "sums as a list": (set_("sums", [1, 2]), "'sums'"),
    "stopper as a list": (set_("stopper", [1]), "'stopper'"),
    "stopper with a stray key": (stopper("patience_left", 3), "'stopper.patience_left'"),
    "seed as a string": (set_("seed", "5"), "'seed' = '5'"),
    "overrides as a list": (set_("overrides", ["--epochs", "3"]), "'overrides' = list"),
    "epochs override as a string": (set_("overrides", {"epochs": "3"}), "'overrides.epochs' = '3'"),
    # positions
    "negative epoch": (set_("epoch", -1), "'epoch' = -1"),
    "negative batch": (set_("batch", -3), "'batch' = -3"),
    "negative step": (set_("step", -11), "'step' = -11"),
    "huge epoch": (set_("epoch", 10**9), "beyond the run's 6 epochs"),
    "huge step": (set_("step", 10**30), "'step' = 1000000000000000000000000000000"),
    "huge batch": (set_("batch", 10**6), "batch 1000000 of an epoch of 8 batches"),
    "step that does not fit": (set_("step", 12), "stands at step 12, but epoch 1 and batch 3"),
    "history too long": (lambda arrays, document: document["history"].append(dict(document["history"][0])),
                         "a history of 2 epochs at epoch 1"),
    "running count off": (sums("count", 47), "running sample count of 47 after 3 batches"),
    "running sum missing": (sums("loss_sum", None), "running sums"),
    "running sum NaN": (sums("loss_sum", math.nan), "'loss_sum'"),
    "best epoch in the future": (stopper("best_epoch", 4), "does not fit epoch 1"),
    "negative wait": (stopper("wait", -1), "'stopper.wait' = -1"),
    "negative seconds": (set_("seconds", -5.0), "'seconds' = -5.0"),
    "infinite epoch seconds": (set_("epoch_seconds", math.inf), "not a finite time"),
    # unknown names, meaningless versions
    "unknown backend": (set_("backend", "tensorflow"), "backend 'tensorflow', which nnspec does not have"),
    "unknown mode": (set_("mode", "turbo"), "mode 'turbo'"),
    "unknown dtype": (set_("dtype", "float16"), "'dtype' = 'float16'"),
    "format version 0": (set_("format_version", 0), "format version 0, which no nnspec writes"),
    "negative format version": (set_("format_version", -2), "format version -2"),
    "format version as a string": (set_("format_version", "2"), "format version '2'"),
    "format version as a float": (set_("format_version", 1.5), "format version 1.5"),
    "format version true": (set_("format_version", True), "format version True"),
    "format version missing": (drop("format_version"), "format version None"),
    # missing keys
    **{f"missing {key}": (drop(key), f"lacks '{key}'") for key in (
        "epoch", "batch", "step", "sums", "epoch_seconds", "history", "stopped_early", "stopper", "has_best_weights",
        "fingerprint", "model", "backend", "mode", "dtype", "seed", "data", "data_option", "seconds")},
}


@pytest.mark.parametrize("variant", TAMPERING)
def test_a_tampered_checkpoint_is_refused_in_one_line_and_nothing_changes(checkpointed, tmp_path, variant):
    spec, original = checkpointed
    run = tmp_path / "run"
    shutil.copytree(original, run)
    change, expected = TAMPERING[variant]
    tamper(run, change)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run, "-q")
    assert result.exit_code == 2, result.output
    errors = error_lines(result.output)
    assert len(errors) == 1 and errors[0].startswith(f"{spec}: error: "), result.output
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert "training" not in result.output  # refused before training started
    assert snapshot(run) == before


def test_the_untampered_copy_resumes(checkpointed, tmp_path):
    """The control: the same copy, untouched, resumes and finishes."""
    spec, original = checkpointed
    run = tmp_path / "run"
    shutil.copytree(original, run)
    result = invoke("train", spec, "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["outcome"].startswith(("completed", "stopped early"))
    history = json.loads((run / "history.json").read_text())
    assert [e["epoch"] for e in history] == list(range(1, len(history) + 1))
    assert all(type(e["epoch"]) is int for e in history)  # read back from the checkpoint as written


# ---- the options of the run are recorded and used on resume -------------------------------------------

SPEC = iris_resume_spec(6).replace("patience=10", "patience=100")


@pytest.fixture(scope="module")
def with_options(tmp_path_factory):
    """A run started with options that differ from the spec and the defaults, interrupted at step 3."""
    base = tmp_path_factory.mktemp("options")
    spec = write_spec(base, SPEC)
    result = interrupted_run(spec, base / "run", "--epochs", "2", "--seed", "7", "--checkpoint-every", "5",
                             at_step=3)
    return spec, base / "run", result.output


def copy_of(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def recorded_overrides(run) -> dict:
    with np.load(run / FILENAME) as data:
        return json.loads(str(data["meta"]))["overrides"]


def test_the_resume_hint_carries_the_options(with_options):
    spec, run, output = with_options
    hint = output.split("Continue with: ")[1].strip()
    assert hint.startswith(f"nnspec train {spec} --resume {run} --seed 7 --epochs 2 --checkpoint-every 5")
    recorded = recorded_overrides(run)
    assert {k: recorded[k] for k in ("seed", "epochs", "checkpoint_every")} == {"seed": 7, "epochs": 2,
                                                                               "checkpoint_every": 5}
    assert all(f"--{key.replace('_', '-')} {value}" in hint for key, value in recorded.items())


def test_a_bare_resume_uses_the_recorded_options_and_ends_as_an_uninterrupted_run(with_options, tmp_path):
    spec, original, _ = with_options
    run = copy_of(original, tmp_path)
    result = invoke("train", spec, "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["seed"] == 7
    full = tmp_path / "full"
    assert invoke("train", spec, "--out", full, "--epochs", "2", "--seed", "7", "-q").exit_code == 0
    a, b = np.load(run / "weights.npz"), np.load(full / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b.files)
    assert len(json.loads((run / "history.json").read_text())) == 2


def test_epochs_may_be_raised_on_resume_to_extend_training(with_options, tmp_path):
    spec, original, _ = with_options
    run = copy_of(original, tmp_path)
    result = invoke("train", spec, "--resume", run, "--epochs", "3", "-q")
    assert result.exit_code == 0, result.output
    assert len(json.loads((run / "history.json").read_text())) == 3


def test_epochs_below_what_the_checkpoint_has_started_are_refused(checkpointed, tmp_path):
    spec, original = checkpointed  # in its second epoch
    run = copy_of(original, tmp_path)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run, "--epochs", "1")
    assert result.exit_code == 2 and "has already trained into epoch 2" in result.output
    assert snapshot(run) == before


@pytest.mark.parametrize("option,value,message", [
    ("--seed", "9", "was trained with seed 7, not 9"),
    ("--backend", "torch", "was trained with backend numpy, not torch"),
    ("--mode", "canonical", "was trained with mode native, not canonical"),
    ("--dtype", "float64", "was trained with dtype float32, not float64"),
    ("--data", "wine", "was trained with the spec's data, not wine"),
    ("--track", None, "was trained without --track"),
])
def test_a_resume_that_contradicts_the_run_is_refused(with_options, tmp_path, option, value, message):
    spec, original, _ = with_options
    run = copy_of(original, tmp_path)
    before = snapshot(run)
    result = invoke("train", spec, "--resume", run, option, *([value] if value else []))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert snapshot(run) == before


def test_the_same_options_and_new_run_time_options_are_accepted_and_recorded(with_options, tmp_path):
    spec, original, _ = with_options
    run = copy_of(original, tmp_path)
    result = invoke("train", spec, "--resume", run, "--seed", "7", "--backend", "numpy", "--checkpoint-every", "2",
                    "-q")
    assert result.exit_code == 0, result.output
    recorded = recorded_overrides(run)
    assert {k: recorded[k] for k in ("seed", "epochs", "checkpoint_every")} == {"seed": 7, "epochs": 2,
                                                                               "checkpoint_every": 2}
    assert recorded_overrides(original)["checkpoint_every"] == 5


def _replace_member(run_dir, member: str, data: bytes | None) -> None:
    """Rewrite the checkpoint's zip with ``member`` replaced by ``data`` (removed when None), byte for byte
    otherwise: what a hostile file can hold that ``np.savez`` would never write."""
    import io
    import zipfile

    path = run_dir / FILENAME
    out = io.BytesIO()
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            if info.filename == member:
                if data is not None:
                    new.writestr(info.filename, data)
            else:
                new.writestr(info, old.read(info.filename))
    path.write_bytes(out.getvalue())


def _truncate(run_dir) -> None:
    path = run_dir / FILENAME
    path.write_bytes(path.read_bytes()[:300])


def _fifo(run_dir) -> None:
    import os

    path = run_dir / FILENAME
    path.unlink()
    os.mkfifo(path)


# variant -> (how the checkpoint FILE is broken, what the message must say)
HOSTILE_FILES = {
    "a weight claiming a 116 TiB array": (
        lambda run: _replace_member(run, f"{KERNEL}.npy", __import__("hostile_files").npy_header((2**44, 4))),
        "over the data budget"),
    "a member that is not .npy": (lambda run: _replace_member(run, f"{KERNEL}.npy", b"not an array"), KERNEL),
    "the metadata member missing": (lambda run: _replace_member(run, "meta.npy", None), "meta"),
    "truncated": (_truncate, "not a .npz archive"),
    "a FIFO": (_fifo, "not a regular file"),
}


@pytest.mark.parametrize("variant", HOSTILE_FILES)
def test_a_hostile_checkpoint_file_is_refused_at_once_without_allocating(checkpointed, tmp_path, variant):
    """The checkpoint is read like any untrusted .npz (runtime.safe_npz): sizes are checked against the data
    budget before anything is allocated, a FIFO never blocks, and the refusal is one line (exit 2)."""
    from hostile_files import hang_guard

    spec, original = checkpointed
    run = tmp_path / "run"
    shutil.copytree(original, run)
    breaks, expected = HOSTILE_FILES[variant]
    breaks(run)
    before = snapshot(run)
    with hang_guard():
        result = invoke("train", spec, "--resume", run, "-q")
    assert result.exit_code == 2, result.output
    errors = error_lines(result.output)
    assert len(errors) == 1 and expected in errors[0], result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert snapshot(run) == before
