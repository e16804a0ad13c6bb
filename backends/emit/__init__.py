"""``nnspec emit``: a compiled spec as readable, standalone PyTorch or Keras source.

The emitted program imports only its framework and numpy (and scikit-learn when the spec trains on
one of its bundled data sets), never nnspec, and implements nnspec's pinned meaning of the spec:
the same layers, initial-weight distributions, losses, regularizers, optimizer update rules,
learning-rate schedule, data loading and validation split. It can be run
(``python model.py --epochs 5``) or imported; its functions are

- ``build_model(dtype="float32")``: the framework's model (an ``nn.Module``; a ``keras.Sequential``);
- ``load_data(dtype="float32")``: ``(x_train, y_train, x_val, y_val)`` as nnspec loads and splits them;
- ``train(model, data, epochs=None)``: the spec's training, returning the per-epoch history;
- ``get_weights(model)`` / ``set_weights(model, weights)``: ``{"dense/kernel": array}`` in nnspec's names
  and Keras' layouts (the format of ``nnspec train``'s weights.npz);
- ``predict(model, x)``: outputs in inference mode;
- ``train_step``: one optimizer step on a given batch — torch: ``train_step(model, optimizer, x, y, step)``
  with ``optimizer = make_optimizer(model)`` and ``step`` picking the scheduled rate; Keras:
  ``train_step(model, x, y)`` on a model from ``compile_model(build_model())`` (Keras counts the steps).

Each backend lowers the IR's layer kinds through one registration table (``torch_source.LAYERS``,
``keras_source.LAYERS``); a test checks that both cover every kind of ``compiler.layers.LAYER_CLASSES``.
"""

from __future__ import annotations

from pathlib import Path

from backends.emit.common import EmitError
from compiler.ir.spec import Spec

TARGETS = ("torch", "keras")


def emit_source(spec: Spec, backend: str, *, spec_path: str | Path | None = None) -> str:
    """The standalone program for ``spec`` on ``backend`` ("torch" or "keras"), as text.

    ``spec_path`` (the spec file) is named in the program's docstring, and a relative data file path in
    the spec is resolved against its directory, as ``nnspec train`` does. Raises ``EmitError`` for a spec
    that cannot be emitted (no train section).
    """
    if backend == "torch":
        from backends.emit.torch_source import emit_torch as emit
    elif backend == "keras":
        from backends.emit.keras_source import emit_keras as emit
    else:
        raise EmitError(f"no emitter for backend {backend!r}; choose from {', '.join(TARGETS)}")
    spec_dir = Path(spec_path).parent if spec_path is not None else None
    return emit(spec, spec_path=str(spec_path) if spec_path is not None else None, spec_dir=spec_dir)


__all__ = ["EmitError", "TARGETS", "emit_source"]
