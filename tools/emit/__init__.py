"""``nnspec emit``: a compiled spec as readable, standalone PyTorch or Keras source.

The emitted program imports only its framework and numpy (and scikit-learn when the spec trains on
one of its bundled data sets), never nnspec, and implements nnspec's pinned meaning of the spec:
the same layers, initial-weight distributions, losses, regularizers, optimizer update rules,
learning-rate schedule, data loading and validation split. It can be run
(``python model.py --epochs 5``) or imported; its functions are

- ``build_model(dtype="float32")``: the framework's model (an ``nn.Module``; a ``keras.Sequential``, or a
  functional ``keras.Model`` for a graph);
- ``load_data(dtype="float32")``: ``(x_train, y_train, x_val, y_val)`` as nnspec loads and splits them;
- ``train(model, data, epochs=None)``: the spec's training, returning the per-epoch history;
- ``get_weights(model)`` / ``set_weights(model, weights)``: ``{"dense/kernel": array}`` in nnspec's names
  and Keras' layouts (the format of ``nnspec train``'s weights.npz);
- ``predict(model, x)``: outputs in inference mode;
- ``train_step``: one optimizer step on a given batch — torch: ``train_step(model, optimizer, x, y, step)``
  with ``optimizer = make_optimizer(model)`` and ``step`` picking the scheduled rate; Keras:
  ``train_step(model, x, y)`` on a model from ``compile_model(build_model())`` (Keras counts the steps).

Each backend lowers the IR's layer kinds through one registration table (``torch_source.LAYERS``,
``keras_source.LAYERS``); a test checks that both cover every kind of ``compiler.ir.layers.LAYER_CLASSES``.
"""

from __future__ import annotations

from pathlib import Path

from tools.emit.common import DataFile, EmitError, locate_data_file
from compiler.ir.spec import Spec

TARGETS = ("torch", "keras")


def emit_source(spec: Spec, backend: str, *, spec_path: str | Path | None = None, data: str | None = None,
                program_path: str | Path | None = None) -> str:
    """The standalone program for ``spec`` on ``backend`` ("torch" or "keras"), as text.

    ``spec_path`` (the spec file) is named in the program's docstring (quoted: a file name is spec text like
    any other), and a relative data file path in the spec is relative to its directory, as ``nnspec train``
    takes it. ``data`` is ``--data NAME|PATH``: a data set name or a file path relative to the current
    directory, in place of the spec's data. ``program_path`` is where the program will be written (None:
    standard output). The program's default data file is the spec's (or ``data``'s) path relative to the
    program's directory when it is a file (the program finds it from ``__file__``), else relative to the
    current directory; an absolute path stays as written. Raises ``EmitError`` for a spec that cannot be
    emitted (no train section) and for a ``data`` set whose features do not fit the model's input.
    """
    if backend == "torch":
        from tools.emit.torch_source import emit_torch as emit
    elif backend == "keras":
        from tools.emit.keras_source import emit_keras as emit
    else:
        raise EmitError(f"no emitter for backend {backend!r}; choose from {', '.join(TARGETS)}")
    if spec.training is None:
        raise EmitError("the spec has no train section: add train { loss = ... optimizer = ... }")
    base_dir = Path(spec_path).parent if spec_path is not None else Path(".")
    if data is not None:
        spec = spec.model_copy(update={"training": spec.training.model_copy(update={"data": _data_node(data)})})
        base_dir = Path(".")
        _check_data_fits(spec)
    program_dir = Path(program_path).parent if program_path is not None else None
    file_data = spec.training.data
    data_file = (locate_data_file(file_data.path, base_dir, program_dir)
                 if file_data is not None and file_data.kind == "file" else None)
    return emit(spec, spec_path=str(spec_path) if spec_path is not None else None, data_file=data_file)


def _data_node(data: str):
    """``--data NAME|PATH`` as the IR's data node (``runtime.data.resolve_data``: the rule ``nnspec train``
    follows); a bad name is an ``EmitError``."""
    from runtime.data import DataError, resolve_data

    try:
        return resolve_data(data)
    except DataError as exc:
        raise EmitError(str(exc)) from None


def _check_data_fits(spec: Spec) -> None:
    """A bundled or generated ``--data`` set must have as many features as the model's input holds (the
    ``data-shape`` rule of ``nnspec check``): the program could not reshape it."""
    from compiler.passes.lint import data_against_model

    for finding in data_against_model(spec):
        if finding.code == "data-shape":
            raise EmitError(f"--data: {finding.message}")


__all__ = ["DataFile", "EmitError", "TARGETS", "emit_source"]
