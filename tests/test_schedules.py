"""Learning-rate schedules (compiler/semantics/schedules.py): hand-computed factors at chosen steps, every kind."""

from __future__ import annotations

import math

import pytest

from compiler.semantics.schedules import SCHEDULE_FACTORS, learning_rate, schedule_factor
from compiler.ir.training import (
    SCHEDULE_CLASSES,
    SGD,
    Adam,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    Loss,
    StepSchedule,
    Training,
    WarmupSchedule,
)
from frameworks import need

# (schedule, {step: factor}); the factors worked out by hand.
CASES = {
    "constant": [
        (ConstantSchedule(), {0: 1.0, 1: 1.0, 10**6: 1.0}),
    ],
    "step": [
        # gamma ** (t // step_size): boundaries at 3, 6, 9
        (StepSchedule(step_size=3, gamma=0.5), {0: 1.0, 1: 1.0, 2: 1.0, 3: 0.5, 5: 0.5, 6: 0.25, 9: 0.125}),
        (StepSchedule(step_size=1), {0: 1.0, 1: 0.1, 2: 0.01}),
    ],
    "exponential": [
        # 0.5 ** (t / 10)
        (ExponentialSchedule(decay_steps=10, decay_rate=0.5),
         {0: 1.0, 5: 0.7071067811865476, 10: 0.5, 15: 0.3535533905932738, 20: 0.25}),
        # staircase: 0.5 ** (t // 10)
        (ExponentialSchedule(decay_steps=10, decay_rate=0.5, staircase=True),
         {0: 1.0, 5: 1.0, 9: 1.0, 10: 0.5, 19: 0.5, 20: 0.25}),
        # a rate above 1 grows
        (ExponentialSchedule(decay_steps=2, decay_rate=4.0), {0: 1.0, 1: 2.0, 2: 4.0, 3: 8.0}),
    ],
    "cosine": [
        # ½(1 + cos(π t/10)); cos(π/5) = 0.8090169943749475
        (CosineSchedule(decay_steps=10),
         {0: 1.0, 2: 0.9045084971874737, 5: 0.5, 8: 0.09549150281252633, 10: 0.0, 11: 0.0, 1000: 0.0}),
        # 0.8·½(1 + cos(π t/10)) + 0.2: from 1 down to alpha, then constant at alpha
        (CosineSchedule(decay_steps=10, alpha=0.2),
         {0: 1.0, 2: 0.923606797749979, 5: 0.6, 10: 0.2, 15: 0.2, 1000: 0.2}),
        (CosineSchedule(decay_steps=1, alpha=1.0), {0: 1.0, 1: 1.0, 7: 1.0}),
    ],
    "warmup": [
        # start + (1 − start)·t/4 for t < 4, then constant 1
        (WarmupSchedule(steps=4), {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0, 100: 1.0}),
        (WarmupSchedule(steps=4, start=0.2), {0: 0.2, 1: 0.4, 2: 0.6, 3: 0.8, 4: 1.0}),
        # then a cosine restarted at the end of the warmup: cos(π/4) = 0.7071067811865476
        (WarmupSchedule(steps=2, start=0.5, then=CosineSchedule(decay_steps=4)),
         {0: 0.5, 1: 0.75, 2: 1.0, 3: 0.8535533905932737, 4: 0.5, 5: 0.14644660940672627, 6: 0.0, 50: 0.0}),
        # a warmup nested in a warmup, ending in steps of ×0.1
        (WarmupSchedule(steps=2, then=WarmupSchedule(steps=2, start=0.5, then=StepSchedule(step_size=1))),
         {0: 0.0, 1: 0.5, 2: 0.5, 3: 0.75, 4: 1.0, 5: 0.1, 6: 0.01}),
        # then a staircase exponential
        (WarmupSchedule(steps=1, then=ExponentialSchedule(decay_steps=2, decay_rate=0.1, staircase=True)),
         {0: 0.0, 1: 1.0, 2: 1.0, 3: 0.1, 5: 0.01}),
    ],
}


def test_every_schedule_kind_is_implemented_and_tested():
    assert set(SCHEDULE_FACTORS) == set(SCHEDULE_CLASSES)
    assert set(CASES) == set(SCHEDULE_CLASSES)


@pytest.mark.parametrize(
    "schedule,expected",
    [case for cases in CASES.values() for case in cases],
    ids=[f"{kind}-{i}" for kind, cases in CASES.items() for i in range(len(cases))],
)
def test_factor_by_hand(schedule, expected):
    for step, factor in expected.items():
        assert schedule_factor(schedule, step) == pytest.approx(factor, rel=1e-14, abs=1e-15), step


def test_exact_boundaries():
    """The factor is exactly the power at each boundary, with no floating-point drift."""
    s = StepSchedule(step_size=5, gamma=0.5)
    assert [schedule_factor(s, t) for t in (4, 5, 9, 10)] == [1.0, 0.5, 0.5, 0.25]
    e = ExponentialSchedule(decay_steps=4, decay_rate=0.25, staircase=True)
    assert [schedule_factor(e, t) for t in (3, 4, 7, 8)] == [1.0, 0.25, 0.25, 0.0625]
    assert schedule_factor(CosineSchedule(decay_steps=6, alpha=0.1), 6) == pytest.approx(0.1, abs=1e-16)


def test_cosine_is_monotone_and_ends_at_alpha():
    s = CosineSchedule(decay_steps=50, alpha=0.05)
    values = [schedule_factor(s, t) for t in range(80)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[0] == 1.0 and values[50:] == [pytest.approx(0.05, abs=1e-16)] * 30


def test_learning_rate_is_base_times_factor():
    s = WarmupSchedule(steps=10, then=ExponentialSchedule(decay_steps=100, decay_rate=0.1))
    for t in (0, 3, 10, 60, 210):
        assert learning_rate(Adam(learning_rate=0.003), s, t) == 0.003 * schedule_factor(s, t)
    assert learning_rate(SGD(), ConstantSchedule(), 7) == 0.01
    assert learning_rate(SGD(learning_rate=0.5), StepSchedule(step_size=2), 4) == pytest.approx(0.005, rel=1e-15)


def test_default_schedules_of_the_ir():
    """Training's default schedule and WarmupSchedule's default ``then`` are constant (model_construct'ed)."""
    training = Training(loss=Loss(kind="mse"), optimizer=SGD())
    assert [schedule_factor(training.schedule, t) for t in (0, 1, 99)] == [1.0, 1.0, 1.0]
    assert schedule_factor(WarmupSchedule(steps=3), 3) == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="step"):
        schedule_factor(ConstantSchedule(), -1)

    class Unknown:
        kind = "cyclic"

    with pytest.raises(ValueError, match="cyclic"):
        schedule_factor(Unknown(), 0)


def test_matches_pytorch_schedulers():
    """Cross-check: StepLR, ExponentialLR (per-step rate γ^(1/decay_steps)) and LinearLR (warmup) give the
    same factors at 0-based step t as torch after t scheduler steps."""
    torch = need("torch")

    def torch_factors(make, n):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=1.0)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    lr_s = torch.optim.lr_scheduler
    n = 30
    ours = [schedule_factor(StepSchedule(step_size=4, gamma=0.3), t) for t in range(n)]
    assert torch_factors(lambda o: lr_s.StepLR(o, step_size=4, gamma=0.3), n) == pytest.approx(ours, rel=1e-12)
    ours = [schedule_factor(ExponentialSchedule(decay_steps=5, decay_rate=0.2), t) for t in range(n)]
    theirs = torch_factors(lambda o: lr_s.ExponentialLR(o, gamma=0.2 ** (1 / 5)), n)
    assert theirs == pytest.approx(ours, rel=1e-12)
    ours = [schedule_factor(WarmupSchedule(steps=8, start=0.1), t) for t in range(n)]
    theirs = torch_factors(lambda o: lr_s.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=8), n)
    assert theirs == pytest.approx(ours, rel=1e-12)
    # CosineAnnealingLR's closed form ½(1 + cos(π t/T)) with eta_min = alpha, and constant after T here
    s = CosineSchedule(decay_steps=10, alpha=0.1)
    closed = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)) for t in range(n)]
    assert [schedule_factor(s, t) for t in range(n)] == pytest.approx(closed, rel=1e-14)


# ---- one formula for every consumer -------------------------------------------------------------------------
ALL_CASES = [schedule for cases in CASES.values() for schedule, _ in cases]


@pytest.mark.parametrize("schedule", ALL_CASES, ids=[s.kind for s in ALL_CASES])
def test_the_emitted_schedule_is_the_formula_traced_into_python(schedule):
    """The emitted program's ``learning_rate(step)`` (tools/emit/common.schedule_python: the formula of
    compiler/semantics/schedules.py run on a symbolic step) gives the same float at every step."""
    from tools.emit.code import Code
    from tools.emit.common import schedule_python

    code = Code()
    schedule_python(code, schedule)
    namespace = {"math": math, "LEARNING_RATE": 0.003}
    exec("def learning_rate(step):\n" + "".join(f"    {line}\n" for line in code.text().splitlines()), namespace)
    optimizer = Adam(learning_rate=0.003)
    for step in [*range(30), 1000]:
        assert namespace["learning_rate"](step) == learning_rate(optimizer, schedule, step), step


@pytest.mark.parametrize("schedule", ALL_CASES, ids=[s.kind for s in ALL_CASES])
def test_keras_backend_evaluates_the_same_formula(schedule):
    """The Keras backend's schedule (backends/keras/optimizers.py: the same formula on keras.ops, float64)
    gives the rate of compiler.semantics.schedules at every step, to round-off."""
    keras = need("keras")
    from backends.keras.optimizers import SpecSchedule

    rate = SpecSchedule(0.003, schedule, "float64")
    optimizer = Adam(learning_rate=0.003)
    for step in range(30):
        got = float(rate(keras.ops.convert_to_tensor(step, dtype="int64")))
        assert got == pytest.approx(learning_rate(optimizer, schedule, step), rel=1e-14, abs=1e-300), step
