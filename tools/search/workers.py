"""``--jobs N``: N workers on this machine sharing one study.

The parent (``nnspec search``) creates the study and ``study.json``, then ``start_workers`` starts
workers 1..N-1 as processes ``python -P -m MODULE OUT INDEX`` (the command line's worker entry point,
``cli/search_worker.py``, which calls ``run_one_worker``); each opens the same storage (its URL passes
in the environment variable ``STORAGE_ENV``, so that a password is never on a command line) and runs
trials (``tools.search.study.run_worker``) until the study has its trials; worker ``i`` samples with
seed ``seed + i``. The parent is worker 0 (its modules are loaded already: one process start fewer);
it shows the progress of all (polling the storage) and ends when every worker has ended. Ctrl-C
(SIGINT) or SIGTERM reaches each worker, which stops its trial at the next step boundary (the trial
recorded as interrupted, a checkpoint in its run directory) and exits 130; ``stop_workers`` sends it
to those that did not get it, and kills any still running after ``STOP_WAIT_S``. A worker's stderr
goes to ``OUT/workers/INDEX.log``.

Several ``nnspec search`` processes started by hand with the same ``--storage`` and ``--study-name``
(on several machines) cooperate in the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

STORAGE_ENV = "NNSPEC_SEARCH_STORAGE"
# ``python -m`` puts the current folder first on the import path: a folder holding a ``cli/`` (a project's
# own, or planted) would run its code as the worker. ``-P`` (Python 3.11+) leaves it off; PYTHONPATH and
# the installed packages still count.
SAFE_PATH = ("-P",) if sys.version_info >= (3, 11) else ()
STOP_WAIT_S = 60.0


def worker_log(out: Path, index: int) -> Path:
    return Path(out) / "workers" / f"{index}.log"


def start_workers(out: Path, indices, storage_url: str, module: str) -> list[subprocess.Popen]:
    """Start a process ``python -m module OUT INDEX`` for each worker index of ``indices`` on the study of
    directory ``out`` (its study.json written)."""
    (Path(out) / "workers").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, STORAGE_ENV: storage_url}
    processes = []
    for index in indices:
        with open(worker_log(out, index), "wb") as log:
            processes.append(subprocess.Popen([sys.executable, *SAFE_PATH, "-m", module, str(out), str(index)],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                              env=env))
    return processes


def stop_workers(processes: list[subprocess.Popen], wait_s: float = STOP_WAIT_S) -> None:
    """SIGINT to every worker still running; SIGKILL to any still running after ``wait_s`` seconds."""
    for p in processes:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + wait_s
    for p in processes:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fail_orphans(study, out: Path, processes: list[subprocess.Popen]) -> list[int]:
    """Mark failed the running trials of the worker processes in ``processes`` that died (killed, crashed:
    an exit status that is neither 0 nor a clean stop's 130), so that the study does not list them as
    running until Optuna's heartbeat grace has passed (and a resumed one need not wait for it). A trial is
    a worker's when its ``pid`` user attr (set by the objective as the trial opens) is that worker's pid.
    Returns the trial numbers failed."""
    from optuna.trial import TrialState

    dead = {p.pid: p.returncode for p in processes if p.poll() is not None and p.returncode not in (0, 130)}
    if not dead:
        return []
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid not in dead:
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "error", f"its worker process (pid {pid}) died "
                                           f"(exit status {dead[pid]})")
        try:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except RuntimeError:  # it finished meanwhile: nothing to fail
            continue
        failed.append(trial.number)
    return failed


def last_words(out: Path, index: int) -> str:
    """The last line worker ``index`` wrote to its log (its error), or "(no message)"."""
    path = worker_log(out, index)
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()] if path.exists() else []
    return lines[-1] if lines else "(no message)"


def run_one_worker(out: Path, index: int, should_stop: Callable[[], bool]) -> str:
    """Worker ``index`` of the study in ``out``: its share of the trials (``run_worker``); returns how it
    ended. Raises ``Interrupted`` (stopped during a trial), ``SpecError``, ``StorageError``,
    ``StudyDirError``, ``MetricMissing``."""
    import optuna

    from compiler.space import load_space
    from tools.search.objective import Objective, TrialSettings
    from tools.search.pruners import make_pruner
    from tools.search.samplers import make_sampler
    from tools.search.storage import open_storage
    from tools.search.study import run_worker
    from tools.search.study_dir import read_study_json

    out = Path(out)
    info = read_study_json(out)
    space = load_space(info.spec)
    storage = open_storage(os.environ.get(STORAGE_ENV) or info.storage_url(out))
    sampler = make_sampler(info.sampler, space, info.seed + index).sampler
    study = optuna.load_study(study_name=info.study_name, storage=storage, sampler=sampler,
                              pruner=make_pruner(info.pruner, info.trial_epochs or info.epochs))
    objective = Objective(space, TrialSettings.of_study(info, out), should_stop=should_stop)
    return run_worker(study, space, objective, asked=info.trials, timeout=info.timeout, should_stop=should_stop)
