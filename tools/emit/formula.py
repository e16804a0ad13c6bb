"""A formula of compiler.semantics written as source: the formula is run once on a symbolic step.

The schedules (compiler/semantics/schedules.py) are written over an operations namespace and the
arithmetic operators. Run on a :class:`Source` step with :data:`PYTHON_SOURCE` or :data:`KERAS_SOURCE` as
the namespace, the same function returns the expression an emitted program evaluates — operation for
operation, so that the emitted learning rate is the same float. Python numbers meet at trace time (as
they do when the formula runs), and ``x·1``, ``1·x``, ``x + 0`` and ``x − 0`` are written as ``x``
(exact: they change no float).
"""

from __future__ import annotations

from tools.emit.code import literal


class Source:
    """An expression as source text; ``atom``: it needs no parentheses as an operand."""

    def __init__(self, text: str, atom: bool = False) -> None:
        self.text, self.atom = text, atom

    def __str__(self) -> str:
        return self.text

    def operand(self) -> str:
        return self.text if self.atom else f"({self.text})"

    # arithmetic
    def __add__(self, other):
        return binary(self, "+", other)

    def __radd__(self, other):
        return binary(other, "+", self)

    def __sub__(self, other):
        return binary(self, "-", other)

    def __rsub__(self, other):
        return binary(other, "-", self)

    def __mul__(self, other):
        return binary(self, "*", other)

    def __rmul__(self, other):
        return binary(other, "*", self)

    def __truediv__(self, other):
        return binary(self, "/", other)

    def __rtruediv__(self, other):
        return binary(other, "/", self)

    def __lt__(self, other):
        return binary(self, "<", other)


def source(value) -> Source:
    """A Python number (evaluated at trace time) or an expression, as an expression."""
    if isinstance(value, Source):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"cannot write {value!r} as source")
    text = str(value) if isinstance(value, int) else literal(float(value))
    return Source(text, atom=not text.startswith("-"))


def binary(a, op: str, b) -> Source:
    """``a op b``, leaving out the exact identities x·1, 1·x, x + 0, 0 + x and x − 0."""
    def number(x, value):
        return not isinstance(x, Source) and not isinstance(x, bool) and x == value
    if op == "*" and number(b, 1):
        return source(a)
    if op == "*" and number(a, 1):
        return source(b)
    if op in "+-" and number(b, 0):
        return source(a)
    if op == "+" and number(a, 0):
        return source(b)
    return Source(f"{source(a).operand()} {op} {source(b).operand()}")


def _call(name: str):
    def call(self, *args):
        return Source(f"{name}({', '.join(str(source(a)) for a in args)})", atom=True)
    return call


class PythonSource:
    """The operations as plain Python (``math``), for a step that is a Python int."""

    pi = Source("math.pi", atom=True)
    floor = _call("math.floor")
    cos = _call("math.cos")
    minimum = _call("min")
    maximum = _call("max")

    def power(self, a, b):
        return Source(f"{source(a).operand()} ** {source(b).operand()}")

    def where(self, condition, if_true, if_false):
        return Source(f"{source(if_true)} if {source(condition)} else {source(if_false)}")


class KerasSource:
    """The operations as ``keras.ops`` calls, for a step that is a tensor."""

    pi = Source("math.pi", atom=True)
    floor = _call("ops.floor")
    cos = _call("ops.cos")
    minimum = _call("ops.minimum")
    maximum = _call("ops.maximum")
    power = _call("ops.power")
    where = _call("ops.where")


PYTHON_SOURCE = PythonSource()
KERAS_SOURCE = KerasSource()
