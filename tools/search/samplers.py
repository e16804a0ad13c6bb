"""The samplers of ``--sampler``: Optuna's, seeded.

- ``tpe`` (default): ``TPESampler`` — multivariate and grouped (it models dimensions jointly and keeps
  conditional dimensions apart), with the constant liar so that parallel workers do not all try the
  same point;
- ``random``: ``RandomSampler``;
- ``grid``: ``GridSampler`` over ``SearchSpace.grid()`` — every value of every dimension; a space with a
  continuous dimension has no grid (``SamplerError``);
- ``cmaes``: ``CmaEsSampler`` (the ``cmaes`` package); CMA-ES models numeric dimensions only, so the
  categorical ones (choices, optionals) are sampled independently, as Optuna does (``notes`` says so).
  Optuna keeps the CMA-ES optimizer in the storage as a pickle and unpickles it at every sample: here it
  is read with ``tools.search.safe_pickle.restricted_loads`` (the cmaes and NumPy classes of that state,
  nothing else), so a crafted storage cannot run code; a state it refuses is ignored (CMA-ES starts
  afresh from the trials' values) with a note on stderr.

A grid of more than ``GRID_MAX`` points is refused: Optuna's ``GridSampler`` enumerates every point in
memory when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLERS = ("tpe", "random", "grid", "cmaes")
GRID_MAX = 1_000_000  # points GridSampler may enumerate (a list of tuples: ~100 MB at this size)


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

        full = _grid_points(space)
        if full is not None and full > GRID_MAX:
            from compiler.space_summary import describe_count

            raise SamplerError(f"--sampler grid: the grid has {describe_count(full)}, more than it enumerates "
                               f"({GRID_MAX:,}): use --sampler tpe or random")
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
        return ChosenSampler(_safe_cmaes()(seed=seed, independent_sampler=independent,
                                           warn_independent_sampling=False), notes)
    raise SamplerError(f"--sampler {name}: expected one of {', '.join(SAMPLERS)}")


def _grid_points(space) -> int | None:
    """The number of points Optuna's ``GridSampler`` enumerates for ``space``: the product of every
    dimension's count of values (conditional ones included), computed from the bounds without listing
    them; None when a dimension is continuous (no grid)."""
    full = 1
    for d in space.dimensions:
        if d.kind in ("choice", "optional"):
            count = len(d.options)
        elif d.step is None and d.kind == "float":
            return None
        else:
            count = int(round((d.high - d.low) / (d.step or 1))) + 1
        full *= max(1, count)
    return full


_SAFE_CMAES = []


def _safe_cmaes():
    """Optuna's ``CmaEsSampler`` whose optimizer state is unpickled by ``restricted_loads`` (made on first
    use: Optuna is imported only by the commands that search)."""
    if _SAFE_CMAES:
        return _SAFE_CMAES[0]
    import sys

    import optuna

    from tools.search.safe_pickle import UnsafePickle, restricted_loads

    class SafeCmaEsSampler(optuna.samplers.CmaEsSampler):
        refused: set = set()

        def _restore_optimizer(self, completed_trials):
            for trial in reversed(completed_trials):
                attrs = {key: value for key, value in trial.system_attrs.items()
                         if key.startswith(self._attr_key_optimizer)}
                if not attrs:
                    continue
                try:
                    return restricted_loads(bytes.fromhex(self._concat_optimizer_attrs(attrs)))
                except (UnsafePickle, KeyError, TypeError, ValueError) as exc:
                    if trial.number not in self.refused:
                        self.refused.add(trial.number)
                        print(f"note: the CMA-ES state stored with trial {trial.number} is not one nnspec reads "
                              f"({exc}): ignored, CMA-ES starts afresh", file=sys.stderr)
                    return None
            return None

    _SAFE_CMAES.append(SafeCmaEsSampler)
    return SafeCmaEsSampler
