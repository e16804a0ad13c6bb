"""The study directory (``nnspec search --out DIR``) and its ``study.json``.

Layout::

    DIR/study.json     what the study is: spec, study name, storage (password masked), sampler, pruner,
                       metric, direction, backend, device, seed, trials asked, the space's fingerprint
    DIR/space.nns      the search spec as given
    DIR/study.db       the default storage (SQLite)
    DIR/trials/NNNN/   one run directory per trial (``nnspec train --out`` layout, no PNG plots);
                       NNNN is Optuna's trial number (``trials-2/`` … for a study continued by
                       ``--new-study``: ``trials_folder``)
    DIR/results.csv, DIR/best.nns, DIR/history.png, DIR/importances.png, DIR/parallel.png|slice.png

``read_study`` is how other commands (``nnspec fix --trial N --study DIR``, ``--show``) find a study.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from tools.search.storage import default_url, mask

STUDY_JSON = "study.json"
SPACE_NNS = "space.nns"
TRIALS = "trials"


STUDY_JSON_MAX_BYTES = 4 * 1024 * 1024  # a study.json nnspec writes is a few kB (the fingerprint included)
STUDY_NAME_MAX = 512  # Optuna's column for a study's name
COUNT_MAX = 2**62  # the most --trials / --epochs a study records (a SQL BIGINT holds it)


class StudyDirError(Exception):
    """A study directory that cannot be read (one line)."""


def check_study_name(name: str) -> None:
    """A study's name is 1..512 printable characters (Optuna's column; it is shown in tables and
    messages); ``StudyDirError`` otherwise."""
    if not name:
        raise StudyDirError("a study's name is not empty")
    if len(name) > STUDY_NAME_MAX:
        raise StudyDirError(f"a study's name is at most {STUDY_NAME_MAX} characters, not {len(name):,}")
    if not name.isprintable():
        bad = next(c for c in name if not c.isprintable())
        raise StudyDirError(f"a study's name has no control characters or line breaks ({bad!r})")


# study.json's fields: the types each may hold (a crafted file is refused, never used as given)
_TYPES = {"spec": str, "study_name": str, "storage": str, "sampler": str, "pruner": str, "metric": str,
          "direction": str, "backend": str, "device": (str, type(None)), "seed": int, "trials": int,
          "fingerprint": dict, "epochs": (int, type(None)), "data": (str, type(None)),
          "threads": (int, type(None)), "dtype": (str, type(None)), "timeout": (int, float, type(None)),
          "jobs": int, "previous_studies": list, "trial_epochs": (int, type(None))}


def _check_record(record: dict) -> None:
    """``ValueError`` naming the first field of ``record`` (study.json) whose value nnspec never writes."""
    from tools.search.pruners import PRUNERS
    from tools.search.samplers import SAMPLERS

    missing = [f.name for f in fields(StudyInfo) if f.default is MISSING and f.default_factory is MISSING
               and f.name not in record]
    if missing:
        raise ValueError(f"no {missing[0]}")
    for key, kinds in _TYPES.items():
        value = record.get(key)
        if key in record and (not isinstance(value, kinds) or isinstance(value, bool)):
            raise ValueError(f"{key} is {type(value).__name__}")
    from backends import BACKENDS

    choices = {"sampler": SAMPLERS, "pruner": PRUNERS, "direction": ("minimize", "maximize"),
               "backend": tuple(BACKENDS)}
    for key, allowed in choices.items():
        if record[key] not in allowed:
            raise ValueError(f"{key} {record[key][:40]!r} is not one of {', '.join(allowed)}")
    check_study_name(record["study_name"])
    if not record["spec"].endswith(".nns") or not record["spec"].isprintable():
        raise ValueError(f"spec {record['spec'][:80]!r} is not a .nns file")  # its text is never shown
    if not 0 <= record["seed"] <= 2**32 - 1:
        raise ValueError("seed is not in 0..2**32-1")
    for key in ("trials", "jobs", "epochs", "threads", "trial_epochs"):
        if record.get(key) is not None and not 1 <= record[key] <= (256 if key == "jobs" else COUNT_MAX):
            raise ValueError(f"{key} {record[key]} is not a count")
    timeout = record.get("timeout")
    if timeout is not None and not timeout >= 0:  # NaN fails too
        raise ValueError(f"timeout {timeout} is not a number of seconds")
    if not all(isinstance(name, str) for name in record.get("previous_studies", [])):
        raise ValueError("previous_studies holds something that is not a name")


@dataclass
class StudyInfo:
    """The contents of ``study.json``."""

    spec: str  # the search spec's path, as given
    study_name: str
    storage: str  # the URL, password masked; "" for the default (DIR/study.db)
    sampler: str
    pruner: str
    metric: str
    direction: str  # "minimize" | "maximize"
    backend: str
    device: str | None
    seed: int  # the sampler's seed (worker i uses seed + i)
    trials: int  # asked, in total
    fingerprint: dict
    epochs: int | None = None  # --epochs, written into every trial's spec
    data: str | None = None
    threads: int | None = None
    dtype: str | None = None
    timeout: float | None = None
    jobs: int = 1
    previous_studies: list[str] = field(default_factory=list)  # earlier names (--new-study)
    trial_epochs: int | None = None  # the epochs a trial trains (--epochs, else the base point's): the pruners'


    def storage_url(self, out: Path, given: str | None = None) -> str:
        """The URL to open: ``given`` (``--storage``), else the default file in ``out``, else the URL
        recorded — refused when its password was masked (the user must give it again)."""
        if given:
            return given
        if not self.storage:
            return default_url(out)
        if mask(self.storage) != self.storage or "***" in self.storage:
            raise StudyDirError(f"{out / STUDY_JSON}: the storage {self.storage} has a password, which is not "
                                "recorded: give the URL again with --storage")
        return self.storage


def trial_dir(out: Path, number: int, folder: str = TRIALS) -> Path:
    """The run directory of trial ``number`` (Optuna's trial number): ``out/trials/0007``."""
    return Path(out) / folder / f"{number:04d}"


def trials_folder(info: StudyInfo) -> str:
    """The folder of ``info``'s trials in its directory: ``trials``; for a study continued under a new name
    (``--new-study``: ``NAME-2``, …, whose trial numbers start at 0 again) ``trials-2``, ``trials-3``, …, so
    that its trials never land on an earlier study's run directories."""
    return TRIALS if not info.previous_studies else f"{TRIALS}-{len(info.previous_studies) + 1}"


def write_study_json(out: Path, info: StudyInfo) -> None:
    from runtime.files import write_file

    record = asdict(info)
    record["storage"] = mask(info.storage)
    write_file(Path(out) / STUDY_JSON, json.dumps(record, indent=2) + "\n")


def read_study_json(out: Path) -> StudyInfo:
    """``out/study.json`` as a ``StudyInfo``; ``StudyDirError`` when it is missing or malformed."""
    path = Path(out) / STUDY_JSON
    if not Path(out).is_dir():
        raise StudyDirError(f"{out}: no such study directory")
    if not path.is_file():
        raise StudyDirError(f"{out}: not a study directory (no {STUDY_JSON}; `nnspec search --out DIR` writes one)")
    try:
        if path.stat().st_size > STUDY_JSON_MAX_BYTES:
            raise ValueError(f"over {STUDY_JSON_MAX_BYTES // 1024 // 1024} MiB")
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
        _check_record(record)
        known = {f.name for f in fields(StudyInfo)}
        return StudyInfo(**{k: v for k, v in record.items() if k in known})
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError, StudyDirError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise StudyDirError(f"{path}: not a study.json nnspec wrote ({reason.encode('unicode_escape').decode()})") \
            from None
    except OSError as exc:
        raise StudyDirError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def open_study(out: Path, storage: str | None = None):
    """The study of directory ``out`` as ``(StudyInfo, optuna.Study)``; ``storage`` overrides the URL
    recorded. Raises ``StudyDirError`` or ``tools.search.storage.StorageError``."""
    import optuna

    from tools.search.storage import open_storage

    info = read_study_json(out)
    opened = open_storage(info.storage_url(Path(out), storage))
    try:
        study = optuna.load_study(study_name=info.study_name, storage=opened)
    except KeyError:
        raise StudyDirError(f"{out}: the storage holds no study named {info.study_name!r}") from None
    return info, study
