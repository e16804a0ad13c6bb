"""A model too large for memory is the user's error: one line naming the layer, exit 2, for every command
that builds a model (train, equiv, diagnose, lr-find), refused before any framework is loaded or any weight
drawn; memory running out later is one line too."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS
from compiler.pipeline import compile_text
from runtime.model_memory import ModelTooLarge, check_model_fits, is_out_of_memory

runner = CliRunner()

# 10**12 weights in dense_1's kernel: 3.6 TiB in float32, 7.3 TiB in float64
HUGE = """model huge {
    Input([2])
    Dense(1000000)
    Dense(1000000)
    Dense(3)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam
    epochs = 1
    data = spirals
}
"""


@pytest.fixture
def huge(tmp_path):
    path = tmp_path / "huge.nns"
    path.write_text(HUGE)
    return path


@pytest.fixture
def nothing_allocated(monkeypatch):
    """Fail the test if a command gets as far as loading a framework or drawing canonical weights."""
    def never(*args, **kwargs):
        raise AssertionError("the model was not refused before building it")

    monkeypatch.setattr("runtime.trainers.require", never)
    monkeypatch.setattr("tools.equiv.initial_weights", never)


@pytest.mark.parametrize("command", [
    ["train", "--backend", "numpy"], ["train", "--backend", "torch"], ["diagnose", "--backend", "numpy"],
    ["lr-find", "--backend", "numpy"], ["equiv", "--backends", "numpy,torch"],
])
def test_a_model_too_large_for_memory_is_one_line_naming_the_layer(command, huge, tmp_path, nothing_allocated):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command[0] in ("train", "equiv") else ["--plot", str(tmp_path / "p.png")]
    result = runner.invoke(app, [command[0], str(huge), *command[1:], *extra])
    assert result.exit_code == EXIT_ERRORS, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"nnspec {command[0]}: error: the model does not fit in "
                                                     "memory"), result.stderr
    assert "layer 'dense_1' (Dense): kernel of 1,000,000 × 1,000,000 values" in errors[0]
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not out.exists() and not (tmp_path / "p.png").exists()


def test_the_weights_are_counted_in_the_dtype_they_are_kept_in():
    spec = compile_text(HUGE).spec
    with pytest.raises(ModelTooLarge, match=r"7\.28 TiB \(1,000,007,000,003 float64 values\)"):
        check_model_fits(spec, "float64")
    with pytest.raises(ModelTooLarge, match=r"3\.64 TiB .* float32 values\) and this machine has 1 GiB"):
        check_model_fits(spec, "float32", memory=2**30)
    small = compile_text(HUGE.replace("1000000", "100")).spec
    check_model_fits(small, "float64", memory=(2 * 100 + 100 + 100 * 100 + 100 + 100 * 3 + 3) * 8)  # exactly fits
    with pytest.raises(ModelTooLarge):
        check_model_fits(small, "float64", memory=(2 * 100 + 100 + 100 * 100 + 100 + 100 * 3 + 3) * 8 - 1)


def test_memory_running_out_later_is_one_line_too(huge, tmp_path, monkeypatch):
    def exhausted(spec, dtype, memory=None):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (1073741824,) and data type float64")

    monkeypatch.setattr("runtime.trainers.check_model_fits", exhausted)
    result = runner.invoke(app, ["train", str(huge), "--out", str(tmp_path / "run")])
    assert result.exit_code == EXIT_ERRORS, result.output
    assert result.stderr.strip().splitlines()[-1] == ("nnspec train: error: out of memory: Unable to allocate 8.00 "
                                                       "GiB for an array with shape (1073741824,) and data type "
                                                       "float64")
    assert not (tmp_path / "run").exists()


def test_out_of_memory_is_recognised_from_every_framework():
    class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError's name
        pass

    class ResourceExhaustedError(Exception):  # TensorFlow's
        pass

    assert is_out_of_memory(MemoryError()) and is_out_of_memory(ModelTooLarge("x"))
    assert is_out_of_memory(OutOfMemoryError()) and is_out_of_memory(ResourceExhaustedError())
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert"))
