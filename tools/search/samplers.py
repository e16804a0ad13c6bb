"""The samplers of ``--sampler``: Optuna's, seeded.

- ``tpe`` (default): ``TPESampler`` — multivariate and grouped (it models dimensions jointly and keeps
  conditional dimensions apart), with the constant liar so that parallel workers do not all try the
  same point;
- ``random``: ``RandomSampler``;
- ``grid``: ``GridSampler`` over ``SearchSpace.grid()`` — every value of every dimension; a space with a
  continuous dimension has no grid (``SamplerError``);
- ``cmaes``: ``CmaEsSampler`` (the ``cmaes`` package); CMA-ES models numeric dimensions only, so the
  categorical ones (choices, optionals) are sampled independently, as Optuna does (``notes`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLERS = ("tpe", "random", "grid", "cmaes")


class SamplerError(Exception):
    """A sampler that cannot search this space (one line)."""


@dataclass
class ChosenSampler:
    sampler: object
    notes: list[str] = field(default_factory=list)  # lines to show once (e.g. CMA-ES' fallback)
    size: int | None = None  # the number of grid points, for grid


def make_sampler(name: str, space, seed: int) -> ChosenSampler:
    """The Optuna sampler ``name`` for ``space``, seeded with ``seed``. Raises ``SamplerError``."""
    import optuna

    from tools.search.quiet import quiet_optuna

    quiet_optuna()
    if name == "tpe":
        return ChosenSampler(optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                        constant_liar=True))
    if name == "random":
        return ChosenSampler(optuna.samplers.RandomSampler(seed=seed))
    if name == "grid":
        from compiler.space import ParamsError

        try:
            grid = space.grid()
        except ParamsError as exc:
            raise SamplerError(f"--sampler grid: {exc}") from None
        size = space.size()
        return ChosenSampler(optuna.samplers.GridSampler(grid, seed=seed), size=size)
    if name == "cmaes":
        try:
            import cmaes  # noqa: F401 - CmaEsSampler imports it when it first samples
        except ImportError:
            raise SamplerError("--sampler cmaes needs the cmaes package (pip install cmaes)") from None
        categorical = [d.name for d in space.dimensions if d.kind in ("choice", "optional")]
        notes = []
        if categorical:
            notes.append(f"cmaes: CMA-ES models numeric dimensions only; {', '.join(categorical)} "
                         f"{'is' if len(categorical) == 1 else 'are'} sampled independently (at random), "
                         "as Optuna's CmaEsSampler does")
        independent = optuna.samplers.RandomSampler(seed=seed)
        return ChosenSampler(optuna.samplers.CmaEsSampler(seed=seed, independent_sampler=independent,
                                                          warn_independent_sampling=False), notes)
    raise SamplerError(f"--sampler {name}: expected one of {', '.join(SAMPLERS)}")
