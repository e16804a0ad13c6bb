"""`nnspec lr-find`: the range test's schedule, smoothing, stopping rule and verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backends.lr_find import RangeTest, range_test, verdict
from backends.numpy.trainer import NumpyTrainer
from compiler.cli import app
from compiler.pipeline import compile_file

ROOT = Path(__file__).resolve().parent.parent


class Recorder:
    """A stand-in trainer: loss falls with the rate up to 0.1, then explodes."""

    def __init__(self):
        self.rates = []

    def train_batch(self, x, y, step, lr):
        self.rates.append(lr)
        return (2.0 - np.log10(lr / 1e-7) * 0.2 if lr < 0.1 else 50.0 * lr), None


def test_rates_rise_exponentially_and_the_test_stops_on_divergence():
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    trainer = Recorder()
    result = range_test(trainer, spec, np.zeros((64, 64)), np.zeros(64), steps=100, min_lr=1e-7, max_lr=10)
    ratios = np.diff(np.log(trainer.rates))
    assert trainer.rates[0] == pytest.approx(1e-7)
    assert np.allclose(ratios, np.log(1e8) / 99)  # min·(max/min)^(i/(steps−1))
    assert "diverged" in result.stopped_because and result.rates[-1] < 10
    assert result.minimum() < 0.1


def test_smoothing_is_a_bias_corrected_moving_average():
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec

    class Constant:
        def train_batch(self, x, y, step, lr):
            return 3.0, None

    result = range_test(Constant(), spec, np.zeros((64, 64)), np.zeros(64), steps=20)
    assert result.smoothed == pytest.approx([3.0] * 20)  # no bias towards zero at the start


def test_verdicts():
    result = RangeTest(rates=list(np.logspace(-6, 0, 60)), losses=[], smoothed=[])
    result.smoothed = [2.0 - 0.03 * i if i < 40 else 0.8 + 0.2 * (i - 40) for i in range(60)]
    low = result.minimum()
    assert verdict(result, low * 2)[0] == "too high"
    assert verdict(result, 1e-9)[0] == "too small"
    assert verdict(result, low / 3)[0] == "about right"


def test_range_test_on_digits_finds_a_sane_rate_and_leaves_the_spec_alone(tmp_path):
    spec_path = ROOT / "specs" / "digits_mlp.nns"
    before = spec_path.read_text()
    plot = tmp_path / "lr.png"
    result = CliRunner().invoke(app, ["lr-find", str(spec_path), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rate = float(result.output.split("recommended learning rate: ")[1].split()[0])
    assert 1e-4 < rate < 1.0  # Adam on digits trains with rates from about 1e-3 to 1e-1
    assert "the spec's learning rate 0.001 is" in result.output
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert spec_path.read_text() == before


def test_real_trainer_range_test_reaches_divergence():
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    from backends.data import load_dataset

    data = load_dataset(spec)
    result = range_test(NumpyTrainer(spec), spec, data.x_train, data.y_train, steps=150)
    assert result.stopped_because != "reached the largest rate"
    assert min(result.smoothed) < result.smoothed[0] * 0.8
