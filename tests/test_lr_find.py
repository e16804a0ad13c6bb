"""`nnspec lr-find`: the range test's schedule, smoothing, stopping rule and verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tools.lr_find import ABOVE_FACTOR, BELOW_FACTOR, RangeTest, about_right, range_test, report_lines, verdict
from backends.numpy.trainer import NumpyTrainer
from cli import app
from compiler.pipeline import compile_file

ROOT = Path(__file__).resolve().parent.parent
DIGITS = compile_file(ROOT / "specs" / "digits_mlp.nns").spec


class ScriptedLoss:
    """A stand-in trainer returning the given losses, one per step."""

    def __init__(self, losses):
        self.losses = list(losses)

    def train_batch(self, x, y, step, lr):
        return self.losses[step], None


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
    rates = np.logspace(-6, 0, 60)
    # the loss falls slowly, fastest at rates[30] (a drop), is lowest at rates[40], then climbs
    smoothed = [2.0 - 0.01 * i - (0.3 if i > 30 else 0.0) if i <= 40 else 1.3 + 0.2 * (i - 40) for i in range(60)]
    result = RangeTest(rates=list(rates), losses=list(smoothed), smoothed=smoothed)
    steep, low = result.steepest(), result.minimum()
    assert rates[28] < steep < rates[33] and low == pytest.approx(rates[40])  # the window straddles the drop
    assert verdict(result, low * 2)[0] == "too high"
    assert verdict(result, steep * ABOVE_FACTOR * 1.5)[0] == "too high"  # below the minimum, yet 15x the advice
    assert verdict(result, steep)[0] == "about right"
    assert verdict(result, steep / BELOW_FACTOR * 1.5)[0] == "about right"
    assert verdict(result, steep / BELOW_FACTOR / 1.5)[0] == "too small"
    assert about_right(result) == pytest.approx((steep / BELOW_FACTOR, steep * ABOVE_FACTOR))


def test_one_outlying_batch_is_not_the_steepest_descent():
    rates = list(np.logspace(-7, 1, 200))
    losses = [100.0] * 200
    losses[40] = 10.0  # one lucky batch on the plateau
    for i in range(120, 200):
        losses[i] = 100.0 * 0.95 ** (i - 120)  # the real descent
    result = range_test(ScriptedLoss(losses), DIGITS, np.zeros((64, 64)), np.zeros(64), steps=200)
    assert result.steepest() > rates[120]


def test_unknown_when_the_test_stops_before_it_can_recommend():
    result = RangeTest(rates=[1e-7, 1e-6], losses=[1.0, 0.9], smoothed=[1.0, 0.9])
    assert verdict(result, 1e-3)[0] == "unknown"
    assert about_right(result) is None


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
    from runtime.data import load_dataset

    data = load_dataset(spec)
    result = range_test(NumpyTrainer(spec), spec, data.x_train, data.y_train, steps=150)
    assert result.stopped_because != "reached the largest rate"
    assert min(result.smoothed) < result.smoothed[0] * 0.8


# The case: raw breast_cancer features (up to 4,254) under RMSprop; the one-step slope recommended
# 1.5e-6, on a plateau, and still called the spec's 1e-3 "about right".
BREAST_CANCER_RAW = """
model raw_breast_cancer {
    Input([30])
    Dense(16, activation=relu)
    Dense(1, activation=sigmoid)
}

train {
    loss = binary_crossentropy
    optimizer = rmsprop(learning_rate=1e-3)
    batch_size = 32
    seed = 0
    validation_split = 0.2
    data = breast_cancer
}
"""


@pytest.fixture(scope="module", params=["breast_cancer_raw", "digits"])
def measured(request):
    """(spec, range test) on the issue's raw breast_cancer spec and on digits, with the NumPy backend."""
    from runtime.data import load_dataset
    from compiler.pipeline import compile_text

    spec = compile_text(BREAST_CANCER_RAW, "raw.nns").spec if request.param == "breast_cancer_raw" else DIGITS
    data = load_dataset(spec)
    return spec, range_test(NumpyTrainer(spec), spec, data.x_train, data.y_train, steps=200)


def test_the_verdict_follows_the_recommendation(measured):
    spec, result = measured
    steep = result.steepest()
    assert steep is not None
    for rate, expected in ((steep, "about right"), (steep * 3, "about right"), (steep / 10, "about right"),
                           (steep * ABOVE_FACTOR * 2, "too high"), (steep / BELOW_FACTOR / 2, "too small")):
        assert verdict(result, rate)[0] == expected, (rate, steep)
    lines = report_lines(result, spec.training.optimizer.learning_rate)
    assert f"recommended learning rate: {steep:.3g}" in "\n".join(lines)
    judgement = lines[-1].split(" is ", 1)[1].split(":")[0]
    assert judgement == verdict(result, spec.training.optimizer.learning_rate)[0]


def test_the_recommendation_is_where_the_loss_falls(measured):
    _, result = measured
    i, w = result.rates.index(result.steepest()), result.window()
    before, after = result.smoothed[max(i - w, 0)], result.smoothed[min(i + w, len(result.smoothed) - 1)]
    assert after < 0.97 * before  # on the descent, not on a plateau where one batch happened to be low


def test_cli_recommendation_and_verdict_agree_on_raw_breast_cancer(tmp_path):
    spec_path = tmp_path / "raw.nns"
    spec_path.write_text(BREAST_CANCER_RAW)
    result = CliRunner().invoke(app, ["lr-find", str(spec_path), "--plot", str(tmp_path / "lr.png"),
                                      "--ignore", "unscaled-inputs"])
    assert result.exit_code == 0, result.output
    rate = float(result.stdout.split("recommended learning rate: ")[1].split()[0])
    judgement = result.stdout.split("the spec's learning rate 0.001 is ")[1].split(":")[0]
    ratio = 1e-3 / rate
    expected = "too high" if ratio > ABOVE_FACTOR else "too small" if ratio < 1 / BELOW_FACTOR else "about right"
    assert judgement == expected, result.stdout
