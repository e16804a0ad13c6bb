"""How ``nnspec equiv`` judges two traces: a weight's difference relative to its own largest magnitude or
its layer's, whichever is larger — so a bias that holds only round-off (a BatchNormalization after its
layer cancels it: its gradient is zero) is not taken for a disagreement, and a real one still is."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from cli import app
from frameworks import need
from tools.equiv import Trace, compare

runner = CliRunner()


def trace(backend: str, bias: np.ndarray, kernel_delta: float = 0.0) -> Trace:
    kernel = np.linspace(-0.3, 0.3, 12).reshape(3, 4) + kernel_delta
    return Trace(backend, losses=[1.0, 0.5], weights={"conv2d/kernel": kernel, "conv2d/bias": bias})


def test_round_off_in_a_cancelled_bias_is_judged_against_its_layer():
    reference = trace("numpy", np.array([7e-13, -3e-13, 0.0, 1e-13]))
    other = trace("torch", np.array([1e-13, 2e-13, 5e-14, 0.0]))
    result = compare(other, reference, 1e-9)
    assert result.step is None and result.layer is None
    assert result.weight_errors["conv2d/bias"] < 1e-11


def test_a_real_difference_in_a_small_bias_still_parts_the_backends():
    reference = trace("numpy", np.array([1e-3, 0.0, 0.0, 0.0]))
    other = trace("torch", np.array([2e-3, 0.0, 0.0, 0.0]))
    result = compare(other, reference, 1e-9)
    assert result.layer == "conv2d" and result.weight_errors["conv2d/bias"] > 1e-3
    # and a weight larger than the rest of its layer is judged against itself
    big = trace("numpy", np.array([100.0, 0, 0, 0]))
    # relative to 100, not to the kernel's 0.3
    assert abs(compare(trace("torch", np.array([100.001, 0, 0, 0])), big, 1e-9).weight_errors["conv2d/bias"]
               - 1e-5) < 1e-9


def test_equiv_agrees_on_a_conv_whose_bias_batchnormalization_cancels(tmp_path):
    need("torch")
    spec = tmp_path / "bn.nns"
    spec.write_text("""model bn {
    Input([8, 8, 3])
    Rescaling(1 / 255)
    Conv2D(4, 3, padding=same)  # nnspec: ignore[bias-before-batchnorm]
    BatchNormalization()
    Activation(relu)
    Flatten()
    Dense(2, activation=softmax)
}
train {
    loss = categorical_crossentropy
    optimizer = adam(learning_rate=1e-3)
    batch_size = 8
    seed = 1
    data = shapes(n_samples=32, size=8, channels=3, classes=2)
}
""")
    result = runner.invoke(app, ["equiv", str(spec), "--backends", "numpy,torch", "--steps", "8",
                                 "--out", str(tmp_path / "eq")])
    assert result.exit_code == 0, result.output
    assert "equivalent" in result.output
