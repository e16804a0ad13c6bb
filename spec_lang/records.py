"""Frozen records: frozen dataclasses that cost little to define and to make.

``@record`` on a class that derives from ``Record`` gives what ``@dataclass(frozen=True)`` gives — a
dataclass (``dataclasses.fields``, ``replace``, ``is_dataclass`` work), an ``__init__`` taking the fields
in order (defaults allowed, keywords too), equality and hashing by value, a ``Name(field=..., ...)``
repr, and ``FrozenInstanceError`` on assignment — with two differences that matter to a command that
starts many times and to a parser that makes a record per token:

* defining one compiles a single function (its ``__init__``), where ``@dataclass(frozen=True)``
  compiles six; equality, hashing, repr and freezing are shared methods of ``Record``;
* its ``__init__`` fills the instance dict directly, less than half the cost of the one generated
  for a frozen dataclass (which calls ``object.__setattr__`` once per field).
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import Any


class Record:
    """The methods every ``@record`` class shares (see the module docstring)."""

    __slots__ = ()

    def _values(self) -> tuple:
        d = self.__dict__
        return tuple([d[name] for name in self.__dataclass_fields__])  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self.__dataclass_fields__, self._values()))  # type: ignore[attr-defined]
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


def record(cls: type) -> type:
    """Make ``cls`` (a subclass of ``Record`` with annotated fields, plain defaults only) a frozen record."""
    if not issubclass(cls, Record):
        raise TypeError(f"@record needs a subclass of Record, not {cls.__name__}")
    documented = bool(cls.__dict__.get("__doc__"))
    cls = dataclass(cls, init=False, repr=False, eq=False)
    names = [f.name for f in fields(cls)]
    if any(f.default_factory is not MISSING for f in fields(cls)):
        raise TypeError(f"{cls.__name__}: a record's defaults are plain values")
    defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
    params = ", ".join(f"{n}=_default_{n}" if n in defaults else n for n in names)
    body = "".join(f"\n    d[{n!r}] = {n}" for n in names)
    namespace = {f"_default_{n}": v for n, v in defaults.items()}
    exec(f"def __init__(self, {params}):\n    d = self.__dict__{body}\n", namespace)  # noqa: S102 - fixed text
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    if not documented:
        cls.__doc__ = f"{cls.__name__}({', '.join(names)})"
    return cls
