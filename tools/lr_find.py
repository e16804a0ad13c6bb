"""The learning-rate range test (Smith, 2015): raise the rate exponentially each step from a tiny
value, record the smoothed loss, stop when it diverges, and read a good rate off the curve.

rate_i = min_lr · (max_lr / min_lr)^(i / (steps − 1))
smoothed_i = (β·s_{i−1} + (1 − β)·loss_i) / (1 − βⁱ⁺¹)      (β = 0.98, bias-corrected EMA)
stop when smoothed_i > 4 · min(smoothed) or the loss is not finite.
Recommendation: the rate of steepest descent — the most negative slope of the smoothed loss against
log rate, each slope taken across a window of ±w steps (w = max(2, steps // 40), about a fifth of a
decade at the default 200 steps over 8 decades), between the end of the average's warm-up and the
minimum. The window matters: one outlying batch loss moves the average by a single jump, which a
one-step slope would take for the steepest descent (on unscaled data such as raw breast_cancer it
recommended 1.5e-6, on a plateau where the loss did not fall at all).
The loss starts to climb at the rate of the minimum smoothed loss.

The verdict on the spec's rate derives from those two numbers only (``verdict``):
too high above the minimum or above ABOVE_FACTOR × the recommendation; too small below the
recommendation ÷ BELOW_FACTOR; about right in between. The band is lopsided because the steepest
descent is an optimistic rate: one a decade below it still trains well, one a decade above it is
usually where the loss is about to climb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tools.equiv import step_batches
from compiler.semantics.divergence import Diverged

SMOOTHING = 0.98
DIVERGENCE_FACTOR = 4.0
REACHED_END = "reached the largest rate"
ABOVE_FACTOR = 10.0  # "about right" reaches up to 10x the recommendation (and never beyond the minimum)
BELOW_FACTOR = 30.0  # ... and down to 1/30 of it: the steepest descent is optimistic


@dataclass
class RangeTest:
    rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped_because: str = REACHED_END

    def steepest(self) -> float | None:
        """The rate where the smoothed loss falls fastest per factor of rate, between the end of the
        moving average's warm-up (the first tenth of the steps, at least 5) and the loss minimum;
        each slope spans ±``window()`` steps (clipped to that range), so that one outlying batch
        cannot pass for a descent. None when that range holds fewer than 3 steps."""
        start = max(5, len(self.smoothed) // 10)
        end = int(np.argmin(self.smoothed)) + 1
        if end - start < 3:
            return None
        smoothed, log_rate, w = np.array(self.smoothed), np.log(self.rates), self.window()
        best, best_slope = None, math.inf
        for i in range(start, end):
            lo, hi = max(i - w, start), min(i + w, end - 1)
            if hi > lo:
                slope = (smoothed[hi] - smoothed[lo]) / (log_rate[hi] - log_rate[lo])
                if slope < best_slope:
                    best, best_slope = i, slope
        return float(self.rates[best]) if best is not None else None

    def window(self) -> int:
        """Half-width, in steps, of the window each slope of ``steepest`` spans."""
        return max(2, len(self.smoothed) // 40)

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
            if isinstance(loss, tuple):  # several outputs: (total, each output's loss); the test follows the total
                loss = loss[0]
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


def about_right(result: RangeTest) -> tuple[float, float] | None:
    """The band of rates called "about right": from the recommendation ÷ BELOW_FACTOR up to the
    smaller of the recommendation × ABOVE_FACTOR and the minimum's rate; None when the test could not
    recommend a rate."""
    steep, low = result.steepest(), result.minimum()
    if steep is None or low is None:
        return None
    return steep / BELOW_FACTOR, min(steep * ABOVE_FACTOR, low)


def verdict(result: RangeTest, spec_rate: float) -> tuple[str, str]:
    """(too small | about right | too high | unknown, the reasoning) for the spec's own rate, derived
    from the recommendation (``steepest``) and the minimum alone, so that it never contradicts them."""
    band = about_right(result)
    if band is None:
        return "unknown", "the test stopped too early to recommend a rate; try a smaller --min-lr or more --steps"
    steep, low = result.steepest(), result.minimum()
    if spec_rate > low:
        return "too high", f"it is beyond {low:.3g}, where the smoothed loss is lowest and starts to climb"
    if spec_rate > band[1]:
        return "too high", (f"it is {spec_rate / steep:.3g}x the recommended {steep:.3g} (about right reaches "
                            f"{ABOVE_FACTOR:g}x): the loss is near where it stops falling")
    if spec_rate < band[0]:
        return "too small", (f"it is {steep / spec_rate:.3g}x below the recommended {steep:.3g} (about right reaches "
                             f"1/{BELOW_FACTOR:g} of it): training will be slow")
    return "about right", (f"it lies within {band[0]:.3g} .. {band[1]:.3g}, from 1/{BELOW_FACTOR:g} of the "
                           f"recommended {steep:.3g} up to {ABOVE_FACTOR:g}x it (and below the minimum)")


def report_lines(result: RangeTest, spec_rate: float) -> list[str]:
    """What ``nnspec lr-find`` prints: how the test ran, the recommendation with its reasoning, and the
    verdict on the spec's rate (``verdict``, so the two always agree)."""
    steep, low = result.steepest(), result.minimum()
    lines = [f"{len(result.rates)} steps from {result.rates[0]:g}; stopped: {result.stopped_because}"
             if result.rates else f"no step completed; stopped: {result.stopped_because}"]
    if steep is not None:
        lines.append(f"steepest descent of the smoothed loss at rate {steep:.3g}: the loss falls fastest there")
    if low is not None:
        still_falling = low == result.rates[-1] and result.stopped_because == REACHED_END
        lines.append(f"lowest smoothed loss at rate {low:.3g}: " + ("the largest rate tried; it had not started to "
                     "climb" if still_falling else "beyond it the loss climbs"))
    if steep is not None:
        lines.append(f"recommended learning rate: {steep:.3g} (steepest descent; stay below {low:.3g})")
    judgement, reason = verdict(result, spec_rate)
    lines.append(f"the spec's learning rate {spec_rate:g} is {judgement}: {reason}")
    return lines


def plot_range_test(path, result: RangeTest, spec_rate: float, title: str) -> None:
    from runtime.plots import pyplot, save_figure

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.semilogx(result.rates, result.losses, color="0.75", lw=1, label="loss")
    ax.semilogx(result.rates, result.smoothed, color="C0", lw=2, label="smoothed loss")
    band = about_right(result)
    if band is not None:
        ax.axvspan(*band, color="C2", alpha=0.1, label=f"about right: {band[0]:.3g} .. {band[1]:.3g}")
    for rate, name, color in ((result.steepest(), "recommended (steepest descent)", "C2"),
                              (result.minimum(), "minimum", "C3"), (spec_rate, "the spec's rate", "C1")):
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
