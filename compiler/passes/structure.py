"""Rules on the model as a whole, shared by the compiler and the IR check (``compiler.passes.verify``): the
graph's wiring, its inputs and its outputs (``layout_problems``)."""

from __future__ import annotations

from compiler.ir.layers import LayerBase
from compiler.ir.names import show_name


def layout_problems(layers: list[LayerBase] | tuple[LayerBase, ...], model: str,
                    outputs: tuple[str, ...] = ()) -> list[tuple[int | None, str]]:
    """What is wrong with the wiring of ``layers`` (the model's, after expansion, in the order the model lists
    them), as (index of the layer to point at, or None for the model; message):

    - an Input first, and at least one layer after it; an Input takes no input;
    - every other layer takes layers listed before it (a later one, or itself, would make a cycle), as many
      as its kind takes (one; a merge two or more, Subtract two); a merge may take one value several times,
      as Keras allows (``Multiply()(x, x)``: x²);
    - every layer's output is used: by a later layer or as one of the model's ``outputs`` (which name
      layers, each once; none given: the last layer is the output).

    A list whose layers name no inputs at all is a stack (``compiler.ir.graph``) and is checked as one.
    """
    problems: list[tuple[int | None, str]] = []
    if not layers or not layers[0].is_input:
        problems.append((0 if layers else None, f"model '{model}' must start with Input(shape=[...])"))
    if len(layers) == 1 and not problems:
        problems.append((None, f"model '{model}' has only its Input; add layers"))
    if not any(layer.inputs for layer in layers):  # a stack: one Input, first
        problems += [(i, "Input may only be the first layer of a stack; a model with several inputs names what "
                         "each layer takes") for i, layer in enumerate(layers) if i > 0 and layer.is_input]
        return problems
    seen: dict[str, int] = {}
    used: set[str] = set()
    for i, layer in enumerate(layers):
        what = f"{layer.kind} {show_name(layer.name)}"
        if layer.is_input:
            if layer.inputs:
                problems.append((i, f"{what}: an Input takes no input"))
        else:
            problems += _input_count(i, layer, what)
            for name in layer.inputs:
                if name not in seen:
                    later = name == layer.name or any(other.name == name for other in layers[i + 1:])
                    problems.append((i, f"{what} takes {show_name(name)}, "
                                        + ("itself: a cycle" if name == layer.name else
                                           "which comes after it: a cycle, or layers out of order" if later else
                                           "which is no layer of the model")))
            used.update(layer.inputs)
        seen.setdefault(layer.name, i)
    names = outputs or ((layers[-1].name,) if layers else ())
    for name in names:
        if name not in seen:
            problems.append((None, f"model '{model}': its output {show_name(name)} is no layer of the model"))
    if len(set(names)) != len(names):
        problems.append((None, f"model '{model}' names the same output twice"))
    used.update(names)
    problems += [(i, f"the output of {layer.kind} {show_name(layer.name)} is never used")
                 for i, layer in enumerate(layers) if layer.name not in used]
    return problems


def _input_count(i: int, layer: LayerBase, what: str) -> list[tuple[int, str]]:
    n = len(layer.inputs)
    if not layer.is_merge:
        return [] if n == 1 else [(i, f"{what} takes one input, not {n}")]
    low, high = type(layer).min_inputs, type(layer).max_inputs
    if n < low:
        return [(i, f"{what} merges {low} or more inputs, received {n}")]
    if high is not None and n > high:
        return [(i, f"{what} merges exactly {high} inputs, received {n}")]
    return []
