"""What a search dimension is: the ``Dimension`` record, the functions that write one, and option labels.

A dimension is written as a call in a value or layer position (no grammar of its own):

* ``choice(a, b, ...)``: one of the options (kind ``"choice"``; in a layer position the options are layers);
* ``int_range(low, high, step=1, log=false)``: an integer of low..high (kind ``"int"``);
* ``float_range(low, high, step=none, log=false)`` / ``log_range(low, high)``: a float (kind ``"float"``);
* ``optional(Layer(...))`` in a layer position: the layer is there or not (kind ``"optional"``, values
  ``true`` / ``false``).

A point gives each *active* dimension a value: a choice's label, an int, a float, or a bool.
"""

from __future__ import annotations

from spec_lang import ast
from spec_lang.records import Record, record
from spec_lang.span import Span

# The functions that write a dimension, recognised by name wherever a value or a layer may stand.
VALUE_FUNCTIONS = ("choice", "int_range", "float_range", "log_range")
DIMENSION_FUNCTIONS = (*VALUE_FUNCTIONS, "optional")
OPTIONAL_VALUES = (True, False)  # an optional's values; the first (present) is its base value

Label = str | int | float | bool  # what a choice takes in a point (and in Optuna's suggest_categorical)
Condition = tuple[str, Label]  # (parent dimension, value): active when the parent is active and has that value


@record
class Dimension(Record):
    """One search dimension.

    ``name`` is what a point and Optuna call it: a named dimension's constant, else its ``path``.
    ``options`` are a choice's labels (an optional's: true, false); ``low``/``high``/``step``/``log`` bound a
    range. ``conditions`` are (parent, value) pairs: the dimension exists when any of them holds (its parent is
    active and has that value); ``()`` means always. ``span`` is the whole dimension call.
    """

    name: str
    path: str
    kind: str  # "choice" | "int" | "float" | "optional"
    span: Span
    options: tuple[Label, ...] = ()
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False
    conditions: tuple[Condition, ...] = ()
    named: bool = False

    @property
    def continuous(self) -> bool:
        """True for a float range without a step: infinitely many values."""
        return self.kind == "float" and self.step is None

    def holds(self, value: object) -> bool:
        """Whether ``value`` is one of this dimension's values (a label, or a number in range on the step)."""
        if self.kind in ("choice", "optional"):
            return any(same_label(value, option) for option in self.options)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))

    def describe(self) -> str:
        """The values in words: "one of 64, 128", "an integer in 1..4 (step 1)", "a float in [1e-4, 1e-2], log"."""
        if self.kind == "optional":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(show_label(o) for o in self.options)
        what = "an integer" if self.kind == "int" else "a number"
        step = f" step {self.step}" if self.step is not None and not (self.kind == "int" and self.step == 1) else ""
        return f"{what} in [{self.low}, {self.high}]{step}{', log scale' if self.log else ''}"


def same_label(a: object, b: object) -> bool:
    """Labels compare by value, but a bool is never a number (``true`` is not ``1``)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def show_label(label: object) -> str:
    """A label as a spec writes it: ``true``, ``64``, ``relu``."""
    if isinstance(label, bool):
        return "true" if label else "false"
    return str(label)


def is_dimension_call(node: object) -> bool:
    """Whether ``node`` is a call of a dimension function (``choice(...)``, ``optional(...)``, ...)."""
    return isinstance(node, ast.Call) and node.func in DIMENSION_FUNCTIONS


def snake_case(kind: str) -> str:
    """Keras' default layer name stem of a kind: ``Dense`` → ``dense``, ``BatchNormalization`` →
    ``batch_normalization``, ``Conv2D`` → ``conv2d`` (``keras.src.utils.naming.to_snake_case``)."""
    import re

    text = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()
