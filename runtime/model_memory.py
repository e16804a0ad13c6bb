"""A model too large for memory is a user's error, said in one line before anything is allocated.

``check_model_fits(spec, dtype)`` adds up the bytes of every weight (``compiler.weights.weight_specs``: the
shapes, no array made) in the dtype the weights are kept in, and raises ``ModelTooLarge`` when they exceed
the memory this process may use (``runtime.input_files.memory_size``: the physical memory or the
container's limit). The weights are a lower bound of what training needs (gradients and the optimizer's
state come on top), so a model refused here could never have trained; one that passes may still run out
later, and ``is_out_of_memory`` recognises that failure (a ``MemoryError``, PyTorch's
``OutOfMemoryError``, TensorFlow's ``ResourceExhaustedError``) wherever it happens, so the command line
reports it in one line too (``cli``: exit 2, as for data over the data budget).
"""

from __future__ import annotations

import math


class ModelTooLarge(MemoryError):
    """The model's weights alone do not fit in memory; ``str(error)`` is the whole message."""


def check_model_fits(spec, dtype, memory: int | None = None) -> None:
    """Raise ``ModelTooLarge`` when the weights of ``spec`` in ``dtype`` (a NumPy dtype or its name) take
    more than ``memory`` bytes (default: ``memory_size()``). The message names the total, the memory, and
    the largest weight: its layer, kind, shape and size."""
    import numpy as np  # here, not at the top: every command's exit asks ``is_out_of_memory``, and `nnspec
    # check` loads no numerical library

    from compiler.weights import weight_specs
    from runtime.input_files import describe_bytes, memory_size

    weights = weight_specs(spec)
    if not weights:
        return
    itemsize = np.dtype(dtype).itemsize
    sizes = [math.prod(w.shape) * itemsize for w in weights]
    total = sum(sizes)
    memory = memory_size() if memory is None else memory
    if total <= memory:
        return
    largest = max(range(len(weights)), key=sizes.__getitem__)
    w = weights[largest]
    kinds = {layer.name: type(layer).__name__ for layer in spec.layers}
    kind = kinds.get(w.layer, "")
    shape = " × ".join(f"{n:,}" for n in w.shape)
    raise ModelTooLarge(
        f"the model does not fit in memory: its weights alone take {describe_bytes(total)} "
        f"({total // itemsize:,} {np.dtype(dtype).name} values) and this machine has {describe_bytes(memory)}; "
        f"the largest is layer '{w.layer}'{f' ({kind})' if kind else ''}: {w.name.split('/', 1)[-1]} of "
        f"{shape} values, {describe_bytes(sizes[largest])}")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: a ``MemoryError`` (``ModelTooLarge`` included), PyTorch's
    ``OutOfMemoryError`` or TensorFlow's ``ResourceExhaustedError`` (by name: neither framework is imported
    for this), or PyTorch's CPU allocator refusing (a plain ``RuntimeError``: "DefaultCPUAllocator: can't
    allocate memory", as an UpSampling2D(4096) output of 48 GiB gets)."""
    return (isinstance(exc, MemoryError) or type(exc).__name__ in ("OutOfMemoryError", "ResourceExhaustedError")
            or isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


__all__ = ["ModelTooLarge", "check_model_fits", "is_out_of_memory"]
