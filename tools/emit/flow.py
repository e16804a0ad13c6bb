"""How an emitted program passes values between layers: the flow variable ``x`` and named values.

A program reads like the spec: each layer takes ``x``, the output of the line before it, and leaves its own
output in ``x``. A value that is needed anywhere else — by a layer further down (a skip), by several layers,
as one of several model outputs, or as a model input a later line names — is kept in a variable named after
its layer (``activation``, ``add_1``, ``image``), and the layers that take it name it:

    x = self.conv2d(x)
    activation = F.relu(x)
    x = self.conv2d_1(activation)
    x = x + activation  # add

A stack is the graph where every value is taken by the next line only, so it is written with ``x`` alone,
exactly as before graphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.emit.code import identifier
from compiler.ir.graph import Graph

FLOW = "x"
_X = re.compile(r"\bx\b")


@dataclass(frozen=True)
class Flow:
    """``graph`` of the spec; ``names[i]``: the variable that keeps layer i's output, or ``"x"`` where the
    next line alone takes it (and, for the one output of a model that is its last layer, the result)."""

    graph: Graph
    names: tuple[str, ...]

    @property
    def is_stack(self) -> bool:
        return all(name == FLOW for name in self.names[1:])

    def kept(self, i: int) -> bool:
        return self.names[i] != FLOW


def plan(spec, reserved: frozenset[str], keep_inputs: bool) -> Flow:
    """The variables of ``spec``'s layers. ``keep_inputs``: every Input gets its own variable (Keras' functional
    model names its inputs at the end); otherwise only where the model has several inputs or a later line
    takes the input again (a one-input torch ``forward(self, x)``). Names are the layers' names made
    identifiers (``tools.emit.code.identifier``), none of them in ``reserved`` (the names the code around them
    uses: modules, helpers, ``x``)."""
    graph = Graph.of(spec.layers, spec.output_names)
    last = len(spec.layers) - 1
    several_inputs = len(graph.inputs) > 1
    taken: set[str] = set()
    names = []
    for i, layer in enumerate(spec.layers):
        only_next = graph.consumers[i] == (i + 1,) and i not in graph.outputs
        the_result = graph.outputs == (i,) and i == last
        keep = not (only_next or the_result)
        if layer.is_input:
            keep = keep_inputs or several_inputs or not only_next
        names.append(identifier(layer.name, taken, reserved | {FLOW}) if keep else FLOW)
    return Flow(graph, tuple(names))


def rewrite(lines: list[str], source: str, target: str) -> tuple[list[str], bool]:
    """A layer's lines, written to read ``x`` and leave the result in ``x``, made to read ``source`` and leave
    the result in ``target``: ``x`` means ``source`` until the first statement assigning ``x = ...`` has been
    read (its right-hand side included, over continuation lines) and ``target`` from there on. Comments
    (after ``"  # "``) are left alone. Returns the lines and whether any of them assigns (a layer that does not
    leaves its input as its output)."""
    current, assigned, depth, out = source, False, 0, []
    for line in lines:
        code, sep, comment = line.partition("  # ")
        if depth == 0 and code.startswith(f"{FLOW} = "):
            code = f"{target} = {_X.sub(current, code[len(FLOW) + 3:])}"
            assigned = True
            if comment == target:  # "activation = F.relu(x)  # activation" says it twice
                sep = comment = ""
        else:
            code = _X.sub(current, code)
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if assigned and depth == 0:
            current = target
        out.append(code + sep + comment)
    return out, assigned
