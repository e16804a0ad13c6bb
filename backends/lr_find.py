"""The learning-rate range test (Smith, 2015): raise the rate exponentially each step from a tiny
value, record the smoothed loss, stop when it diverges, and read a good rate off the curve.

rate_i = min_lr · (max_lr / min_lr)^(i / (steps − 1))
smoothed_i = (β·s_{i−1} + (1 − β)·loss_i) / (1 − βⁱ⁺¹)      (β = 0.98, bias-corrected EMA)
stop when smoothed_i > 4 · min(smoothed) or the loss is not finite.
Recommendation: the rate of steepest descent (most negative d smoothed / d log rate, after the
average's warm-up); the loss starts to climb at the rate of the minimum smoothed loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from backends.equiv import step_batches
from backends.loop import Diverged

SMOOTHING = 0.98
DIVERGENCE_FACTOR = 4.0
TOO_SMALL_FACTOR = 30.0  # the test's steepest point is optimistic: a rate a decade below it still trains well


@dataclass
class RangeTest:
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped_because: str = "reached the largest rate"

    def steepest(self) -> float | None:
        """The rate where the smoothed loss falls fastest per factor of rate, between the end of the
        moving average's warm-up (the first tenth of the steps, at least 5) and the loss minimum."""
        start = max(5, len(self.smoothed) // 10)
        end = int(np.argmin(self.smoothed)) + 1
        if end - start < 3:
            return None
        slope = np.gradient(np.array(self.smoothed[start:end]), np.log(self.rates[start:end]))
        return float(self.rates[start + int(np.argmin(slope))])

    def minimum(self) -> float | None:
        """The rate at the smallest smoothed loss: beyond it the loss climbs."""
        return float(self.rates[int(np.argmin(self.smoothed))]) if self.smoothed else None


def range_test(trainer, spec, x: np.ndarray, y: np.ndarray, *, steps: int = 200, min_lr: float = 1e-7,
               max_lr: float = 10.0, seed: int | None = None) -> RangeTest:
    """Run the test on ``trainer`` (which it trains: build a fresh one for it)."""
    seed = spec.training.seed if seed is None else seed
    result = RangeTest()
    average = 0.0
    for i, idx in enumerate(step_batches(len(x), spec.training.batch_size, seed, steps)):
        rate = min_lr * (max_lr / min_lr) ** (i / max(steps - 1, 1))
        try:
            loss, _ = trainer.train_batch(x[idx], y[idx], i, rate)
        except Diverged:
            result.stopped_because = f"the loss became non-finite at rate {rate:.3g}"
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smoothed = average / (1 - SMOOTHING ** (i + 1))
        result.rates.append(rate)
        result.losses.append(loss)
        result.smoothed.append(smoothed)
        if not math.isfinite(smoothed) or smoothed > DIVERGENCE_FACTOR * min(result.smoothed):
            result.stopped_because = f"the loss diverged at rate {rate:.3g} (4x its minimum)"
            break
    return result


def verdict(result: RangeTest, spec_rate: float) -> tuple[str, str]:
    """(too small | about right | too high, the reasoning) for the spec's own rate."""
    steep, low = result.steepest(), result.minimum()
    if steep is None or low is None:
        return "unknown", "the test stopped too early to judge; try a smaller --min-lr or more --steps"
    if spec_rate > low:
        return "too high", (f"the spec's rate {spec_rate:.3g} is beyond {low:.3g}, where the loss starts to climb")
    if spec_rate < steep / TOO_SMALL_FACTOR:
        return "too small", (f"the spec's rate {spec_rate:.3g} is more than {TOO_SMALL_FACTOR:g}x below the steepest "
                             f"descent at {steep:.3g}: training will be slow")
    return "about right", (f"the spec's rate {spec_rate:.3g} lies between 1/{TOO_SMALL_FACTOR:g} of the steepest "
                           f"descent ({steep / TOO_SMALL_FACTOR:.3g}) and the loss minimum ({low:.3g})")


def plot_range_test(path, result: RangeTest, spec_rate: float, title: str) -> None:
    from backends.plots import pyplot, save_figure

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.semilogx(result.rates, result.losses, color="0.75", lw=1, label="loss")
    ax.semilogx(result.rates, result.smoothed, color="C0", lw=2, label="smoothed loss")
    for rate, name, color in ((result.steepest(), "steepest descent", "C2"), (result.minimum(), "minimum", "C3"),
                              (spec_rate, "the spec's rate", "C1")):
        if rate is not None:
            ax.axvline(rate, color=color, ls="--", lw=1.2, label=f"{name}: {rate:.3g}")
    finite = [s for s in result.smoothed if math.isfinite(s)]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite)) * 1.1)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
