"""The one rule for layer and model names, enforced by the IR itself.

A name is 1 to ``MAX_NAME_LENGTH`` ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter
or ``_``. Every place a name reaches stays safe with it: Keras (which refuses ``/`` in names, and whose
TensorFlow scopes take only ``[A-Za-z0-9_.\\-/>]``), weight keys ``layer/weight`` (split at the first
``/``), file names (the run directory ``runs/<model>-<time>``: no separator, no ``..``), and generated
Python source (no quote, backslash, newline or other character that could end a string or a comment).

The rule holds wherever IR is built: ``LayerName`` and ``ModelName`` are the field types of
``LayerBase.name`` and ``Spec.name``, so a spec's ``name="..."`` (bound through the IR classes), an IR
``.json`` and any direct construction are all checked by the same function, ``name_problem``.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

MAX_NAME_LENGTH = 100
NAME_RULE = (f"a name is 1 to {MAX_NAME_LENGTH} letters, digits, '_', '-' and '.', starting with a letter "
             "or '_'")
NAME_RANGE = f"letters, digits, `_ - .`; first a letter or `_`; ≤ {MAX_NAME_LENGTH} characters"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def show_name(name: str, limit: int = 40) -> str:
    """``name`` quoted for a message: every character that is not printable ASCII escaped (so that no
    control character or line break from a hostile name reaches the terminal), long names shortened."""
    shown = name if len(name) <= limit else name[:limit] + "..."
    return ascii(shown)


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid layer or model name (a sentence ending with the rule), or None when
    it is one. Never raises."""
    if not isinstance(name, str):
        return f"a name must be a string, not {type(name).__name__}"
    if not name:
        return f"the name is empty; {NAME_RULE}"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name {show_name(name)} has {len(name)} characters; {NAME_RULE}"
    if _NAME.fullmatch(name):
        return None
    bad = next((c for c in name if c not in _ALLOWED), None)
    if bad is None:
        return f"the name {show_name(name)} starts with {ascii(name[0])}; {NAME_RULE}"
    return f"the name {show_name(name)} contains {ascii(bad)}; {NAME_RULE}"


def root_scope_name(name: str) -> str:
    """``name`` as TensorFlow takes the name of an outermost scope (a Keras model's name), whose first
    character must be a letter, a digit or ``.``: a valid name starting with ``_`` gets ``model`` before it
    (``_x`` → ``model_x``); every other valid name is returned unchanged."""
    return "model" + name if name.startswith("_") else name


def child_path(parent: Path, name: str) -> Path:
    """``parent / name`` for a file or directory named after a layer or model (``runs/<model>-<time>``),
    checked twice: ``name`` must be one plain path component (no separator, NUL, ``.`` or ``..``), and the
    result, resolved (symbolic links followed), must lie directly in ``parent`` resolved. ``ValueError``
    otherwise: a valid name always passes, so the check is defence in depth."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\x00" in name:
        raise ValueError(f"{show_name(name)} is not a plain file name")
    path = Path(parent) / name
    if path.resolve().parent != Path(parent).resolve():
        raise ValueError(f"{show_name(name)} would lead outside {parent}")
    return path


def check_name(name: str) -> str:
    """``name`` itself when it is valid; else ``ValueError`` with ``name_problem``'s sentence."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


# A layer's ``name`` field: its default "" (pydantic does not validate defaults) means "not named yet":
# the compiler gives such a layer Keras' automatic name, and ``Spec`` refuses a layer left unnamed.
LayerName = Annotated[str, AfterValidator(check_name)]
ModelName = Annotated[str, AfterValidator(check_name)]
