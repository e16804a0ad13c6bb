"""``nnspec fix SPEC --params FILE.json | --trial N --study DIR``: the concrete spec of one point of a search
space — the file a user commits after a search.

The point comes from a JSON object ``{dimension name: value}`` or from trial N of a study that
``nnspec search`` wrote. It is validated whole against the space (``SearchSpace.validate``: unknown,
missing, out-of-range and inactive dimensions are one message each, naming the dimension), then
``SearchSpace.concrete_text`` writes the spec with every dimension replaced by its value, formatted as
``nnspec fmt`` would, under a comment naming where the point came from. A relative data file path is
rewritten to name the same file from the folder of ``--out FILE`` (from the current folder when the spec
goes to standard output).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer

from cli.common import load_space_or_exit, write_stdout_utf8
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from cli.output import check_output, write_output
from cli.train import fail
from spec_lang.printable import printable

MAX_PARAMS_BYTES = 1024 * 1024  # a point of a few hundred dimensions is a few KB


def fix(
    spec: Path = typer.Argument(..., help="The search spec (a spec with search dimensions)."),
    params: Optional[Path] = typer.Option(None, "--params", metavar="FILE.json",
                                          help="The point: a JSON object {dimension name: value}."),
    trial: Optional[int] = typer.Option(None, "--trial", min=0, metavar="N",
                                        help="The point of trial N of the study in --study DIR."),
    study: Optional[Path] = typer.Option(None, "--study", metavar="DIR",
                                         help="The study directory `nnspec search --out DIR` wrote."),
    storage: Optional[str] = typer.Option(None, "--storage", metavar="URL",
                                          help="The study's storage, when study.json cannot name it (a "
                                               "database URL with a password, which is not recorded)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE",
                                       help="Write the spec to FILE instead of stdout."),
    force: bool = typer.Option(False, "--force", help="Overwrite --out FILE if it exists."),
) -> None:
    """Write the concrete spec of one point of a search space, formatted, with a comment naming where the
    point came from (the parameters file, or the study and trial).

    Exit 0 written, 2 on a bad spec, point, study or output path (nothing written).

    Examples:

      nnspec fix specs/digits_mlp_search.nns --params point.json

      nnspec fix specs/digits_mlp_search.nns --trial 17 --study runs/search-digits --out digits_best.nns
    """
    if (params is None) == (trial is None):
        fail(spec, "give the point: --params FILE.json, or --trial N with --study DIR")
    if trial is not None and study is None:
        fail(spec, "--trial N needs --study DIR (the directory `nnspec search --out DIR` wrote)")
    if params is not None and (study is not None or storage is not None):
        fail(spec, "--study and --storage go with --trial N, not with --params")
    if out is not None and out.exists() and not force:
        fail(out, "the file exists; give --force to overwrite it")
    check_output(out)
    space = _load_space(spec)
    epochs = None
    if params is not None:
        point, where = _read_params(params), params
        comment = f"nnspec fix: the point {params} of the search space {spec}"
    else:
        point, comment, epochs = _trial_point(spec, space, study, trial, storage)
        where = study
    from compiler.space import ParamsError

    try:
        space.validate(point)
    except ParamsError as exc:  # every problem, one line each; the names when one is unknown with no guess
        for problem in exc.problems[:PROBLEMS_SHOWN]:  # a crafted storage's values: clipped, escaped
            print(f"{where}: error: {_clip(problem)}", file=sys.stderr)
        if len(exc.problems) > PROBLEMS_SHOWN:
            print(f"{where}: error: … and {len(exc.problems) - PROBLEMS_SHOWN} more problems", file=sys.stderr)
        if any(p.startswith("unknown dimension") and "did you mean" not in p for p in exc.problems):
            print(f"{where}: note: the space's dimensions: {', '.join(d.name for d in space.dimensions)}",
                  file=sys.stderr)
        raise typer.Exit(EXIT_ERRORS) from None
    # a relative data file path names the same file from where the spec goes (stdout: the current folder)
    text = space.concrete_text(point, comment=comment, written_to=out if out is not None else Path("-"))
    if epochs is not None:  # the study's --epochs: the spec the trial trained, which retrains to its results
        from tools.search.objective import with_epochs

        text = with_epochs(text, epochs)
    if out is None:
        write_stdout_utf8(text)
    else:
        write_output(out, text)
        typer.echo(f"wrote {out}", err=True)
    raise typer.Exit(EXIT_OK)


PROBLEMS_SHOWN = 20


def _clip(text: str, width: int = 300) -> str:
    """``text`` for one line of a message (``spec_lang.printable``), at most ``width`` characters."""
    return printable(text, width)


def _load_space(spec: Path):
    """The search space of ``spec``; its errors printed and exit 2, or exit 2 when it has no dimension."""
    space = load_space_or_exit(spec)
    if not space:
        fail(spec, "has no search dimensions: it is a concrete spec already (nothing to fix)")
    return space


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a value a dimension takes")


def _integer(text: str) -> int:
    """A JSON integer; one of more than 20 digits (beyond any dimension's bounds, which stay within ±2**53)
    is refused before Python converts it (thousands of digits would take long, or fail)."""
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"a number of {len(text.lstrip('-')):,} digits is not a value a dimension takes")
    return int(text)


def _read_params(path: Path) -> dict:
    """The JSON object in ``path``; every way it can be wrong is one line naming the file, exit 2."""
    try:
        if not path.is_file():
            fail(path, "no such file" if not path.exists() else "not a regular file")
        with path.open("rb") as f:
            data = f.read(MAX_PARAMS_BYTES + 1)
    except OSError as exc:
        fail(path, f"cannot read it: {exc.strerror or exc}")
    if len(data) > MAX_PARAMS_BYTES:
        fail(path, f"larger than {MAX_PARAMS_BYTES:,} bytes: not a point of a search space")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(path, f"not UTF-8 text (byte {exc.start})")

    def pairs(items):
        seen = {}
        for key, value in items:
            if key in seen:
                raise ValueError(f"the dimension {key!r} is given twice")
            seen[key] = value
        return seen

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=_refuse_constant, parse_int=_integer)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}:{exc.colno}", f"not valid JSON: {exc.msg}")
    except ValueError as exc:
        fail(path, str(exc))
    except RecursionError:  # [[[[...]]]] thousands deep: no point nests at all
        fail(path, "nested too deeply: a point is one JSON object of names and plain values")
    if not isinstance(value, dict):
        fail(path, f"must hold a JSON object {{\"dimension name\": value, ...}}, not {_json_kind(value)}")
    for name, item in value.items():
        if isinstance(item, float) and not math.isfinite(item):
            fail(path, f"{name}: {item} is not a value a dimension takes")
        if isinstance(item, (dict, list)) or item is None:
            fail(path, f"{name}: a dimension's value is a number, true/false or a label string, "
                       f"not {_json_kind(item)}")
    return value


def _json_kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def _trial_point(spec: Path, space, study_dir: Path, number: int,
                 storage: str | None) -> tuple[dict, str, int | None]:
    """Trial ``number``'s point in the study of ``study_dir``, the comment naming it, and the study's
    ``--epochs`` (None when it had none: the trial trained the spec's own). A trial that does not exist or
    has not finished is an error; a pruned or failed one is fixed, with a note saying so. The study's space
    must be the spec's (its fingerprint), else the differences are printed, exit 2."""
    from tools.search.storage import StorageError
    from tools.search.study_dir import StudyDirError, open_study

    try:
        info, study = open_study(study_dir, storage)
    except (StudyDirError, StorageError) as exc:  # "DIR...: reason" or a reason: "path: error: reason"
        where, _, reason = str(exc).partition(": ")
        if not (reason and where.startswith(str(study_dir))):
            where, reason = str(study_dir), str(exc)
        fail(where, reason)
    if info.fingerprint and info.fingerprint != space.fingerprint():
        from tools.search.study import space_changes

        changes = space_changes(type(space), info.fingerprint, space.fingerprint())
        print(f"{spec}: error: this is not the search space of the study in {study_dir}:", file=sys.stderr)
        for line in changes or ["the spec differs outside its dimensions"]:
            print(f"  {line}", file=sys.stderr)
        raise typer.Exit(EXIT_ERRORS)
    from optuna.trial import TrialState

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        have = f"its trials are 0 to {max(trials)}" if trials else "it has no trials"
        fail(study_dir, f"the study {info.study_name!r} has no trial {number} ({have})")
    chosen = trials[number]
    state = chosen.state
    if state in (TrialState.RUNNING, TrialState.WAITING):
        fail(study_dir, f"trial {number} has not finished ({state.name.lower()}): its point may not be complete; "
                        "fix it once it has finished")
    outcome = f"{info.metric} {chosen.value:.6g}" if state == TrialState.COMPLETE else state.name.lower()
    if state == TrialState.PRUNED:
        last = max(chosen.intermediate_values) if chosen.intermediate_values else None
        at = f" after epoch {last}" if last is not None else ""
        print(f"{study_dir}: note: trial {number} was pruned{at}: its point is written all the same, but it "
              "was not trained to the end", file=sys.stderr)
    elif state == TrialState.FAIL:
        error = chosen.user_attrs.get("error")
        print(f"{study_dir}: note: trial {number} failed{f' ({_clip(error)})' if error else ''}: its point is written "
              "all the same", file=sys.stderr)
    comment = (f"nnspec fix: trial {number} ({outcome}) of the study {info.study_name!r} in {study_dir}, "
               f"a point of the search space {spec}")
    if info.epochs is not None:
        comment += f"\nepochs = {info.epochs}: the study's --epochs, which every trial trained"
    return dict(chosen.params), comment, info.epochs
