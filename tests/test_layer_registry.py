"""The layer-kind list cannot be bypassed.

``compiler.ir.layers.LAYER_CLASSES`` is the one list of layer kinds. A kind defined in ``compiler/ir/layers``
but absent from it fails here, and so does a kind of the list absent from any registry that must hold every
kind: each failure names the file to add it to. The README's steps for adding a layer kind name the same
places (``REGISTRIES`` is checked against them), in the same order.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import typing
from pathlib import Path

import numpy as np
import pytest

import compiler.ir.layers as ir_layers
from compiler.ir.layers import LAYER_CLASSES, Layer, LayerBase
from compiler.pipeline import compile_text
from frameworks import need

ROOT = Path(__file__).resolve().parent.parent


def _numpy() -> set[str]:
    from backends.numpy import layers
    return set(layers.PLAIN)


def _torch() -> set[str]:
    need("torch")
    from backends.torch.layers import LOWERINGS
    return set(LOWERINGS)


def _keras() -> set[str]:
    need("keras")
    from backends.keras.layers import LOWERINGS
    return set(LOWERINGS)


def _torch_emitter() -> set[str]:
    from tools.emit import torch_source
    return set(torch_source.LAYERS)


def _keras_emitter() -> set[str]:
    from tools.emit import keras_source
    return set(keras_source.LAYERS)


def _gradient_cases() -> set[str]:
    from test_gradients import LAYER_CASES  # tests/ is on sys.path under pytest
    return {case.split("/")[0] for case in LAYER_CASES}


def _equivalence_matrix() -> set[str]:
    from equivalence_cases import CASES
    return {layer.kind for text in CASES.values() for layer in compile_text(text).spec.layers}


def _readme_reference() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = text[text.index("<!-- reference:begin"):text.index("<!-- reference:end")]
    return set(re.findall(r"^#### `(\w+)`$", reference, flags=re.M))


# where a kind goes (as the README's steps name it) -> the kinds found there; in the README's order
REGISTRIES = {
    "backends/numpy/layers/": _numpy,
    "backends/torch/layers.py": _torch,
    "backends/keras/layers.py": _keras,
    "tools/emit/torch_source.py": _torch_emitter,
    "tools/emit/keras_source.py": _keras_emitter,
    "tests/test_gradients.py": _gradient_cases,
    "tests/equivalence_cases.py": _equivalence_matrix,
    "python -m compiler.reference": _readme_reference,
}


def defined_kinds() -> dict[str, type[LayerBase]]:
    """Every concrete layer class defined under compiler/ir/layers: a LayerBase subclass whose ``kind`` is a
    literal, found by importing every module there (not by reading LAYER_CLASSES)."""
    for module in pkgutil.iter_modules(ir_layers.__path__):
        importlib.import_module(f"{ir_layers.__name__}.{module.name}")
    found, todo = {}, [LayerBase]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith(ir_layers.__name__ + ".") and \
                typing.get_origin(cls.model_fields["kind"].annotation) is typing.Literal:
            found[cls.model_fields["kind"].default] = cls
    return found


def test_every_kind_defined_in_compiler_ir_layers_is_in_the_list():
    defined = defined_kinds()
    missing = sorted(set(defined) - set(LAYER_CLASSES))
    assert not missing, f"layer kinds defined but not in LAYER_CLASSES (compiler/ir/layers/__init__.py): {missing}"
    assert all(LAYER_CLASSES[kind] is cls for kind, cls in defined.items())


def test_the_ir_union_is_the_list():
    union = typing.get_args(typing.get_args(Layer)[0])
    assert list(union) == list(LAYER_CLASSES.values())
    assert all(kind == cls.model_fields["kind"].default for kind, cls in LAYER_CLASSES.items())


@pytest.mark.parametrize("where", REGISTRIES)
def test_every_registry_holds_every_kind_of_the_list(where):
    found = REGISTRIES[where]()
    missing, unknown = sorted(set(LAYER_CLASSES) - found), sorted(found - set(LAYER_CLASSES))
    assert not missing, f"layer kinds missing from {where}: {missing}"
    assert not unknown, f"{where} has kinds that are not in LAYER_CLASSES: {unknown}"


def test_every_kind_names_itself_as_keras_does_and_documents_its_formula():
    for kind, cls in LAYER_CLASSES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.snake_name), f"{kind}: snake_name (Keras' name stem) is not set"
        module = importlib.import_module(cls.__module__)
        assert (module.__doc__ or cls.__doc__ or "").strip(), f"{kind}: no docstring with its formula"


def test_the_readme_steps_name_every_registry_in_order():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("**Adding a layer kind**")
    steps = text[start:text.index("**Adding", start + 1)]
    numbered = re.findall(r"^\d+\. (.*)$", steps, flags=re.M)
    assert len(numbered) >= len(REGISTRIES), "the steps to add a layer kind are a numbered list"
    positions = [steps.find(where) for where in ["compiler/ir/layers/", *REGISTRIES]]
    assert -1 not in positions, f"the README's steps do not name: {[w for w, p in zip(REGISTRIES, positions[1:]) if p < 0]}"
    assert positions == sorted(positions), "the README's steps name the places in another order than REGISTRIES"


def test_each_kinds_facts_agree_with_its_weights():
    """On every finite-difference case (one or more per kind): a layer a Normalization may adapt after has no
    trainable weights and no randomness (a Normalization's own statistics are fixed before the next one adapts); a layer with a kernel lists a kernel first (``kernel``, or SeparableConv2D's ``depthwise_kernel``); the parameter counts are the
    sizes of the weights the layer describes."""
    from test_gradients import LAYER_CASES, _layer

    for case, (call, shape) in LAYER_CASES.items():
        _, layer = _layer(call, shape)
        weights = layer.weights(layer.input_shape)
        if layer.adapts_through:
            assert not any(w.trainable for w in weights) and not layer.random, \
                f"{case}: adapts_through, but has trainable weights or randomness"
        # a kernel first: "kernel", or a kernel of its own name (SeparableConv2D's "depthwise_kernel")
        assert layer.has_kernel == (bool(weights) and weights[0].name.endswith("kernel")), case
        sizes = [(int(np.prod(w.shape)), w.trainable) for w in weights]
        assert (layer.trainable_params, layer.non_trainable_params) == (
            sum(n for n, t in sizes if t), sum(n for n, t in sizes if not t)), case
