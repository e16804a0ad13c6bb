"""Options several commands share: ``--ignore CODE`` (every command that prints lints), ``--threads N``
and ``--device`` (every command that runs a model), ``--dtype`` and ``--tf32/--no-tf32`` and
``--deterministic`` (``train``). Their form is validated here, before the command runs (a bad value is a
usage error, exit 2); the command then applies them — a device or precision the backend cannot use
here is refused by ``backends.devices.settle_device`` before data is loaded or anything written."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from compiler.semantics.precision import PRECISIONS

# --dtype of train: every precision policy (compiler.semantics.precision), by name
Dtype = Enum("Dtype", {name: name for name in PRECISIONS}, type=str)
Dtype.__doc__ = "A precision policy's name (``compiler.semantics.precision.PRECISIONS``)."


def _ignored_codes(values: list[str] | None) -> list[str]:
    """The lint codes of ``--ignore`` (repeatable, or comma-separated); an unknown one is a usage error (exit 2)."""
    from compiler.passes.lint import CODES
    from compiler.passes.suppressions import unknown_code_message

    codes = [c.strip() for value in values or () for c in value.split(",") if c.strip()]
    for code in codes:
        if code not in CODES:
            raise typer.BadParameter(f"{unknown_code_message(code)} (the codes: {', '.join(CODES)})")
    return sorted(set(codes))


def ignore_option():
    """``--ignore CODE``: silence these lint codes (as ``# nnspec: ignore-file[CODE]`` would)."""
    return typer.Option([], "--ignore", metavar="CODE", callback=_ignored_codes,
                        help="Silence a lint code (repeat it, or separate codes with commas), as a "
                        "'# nnspec: ignore-file[CODE]' comment would.")


def threads_option():
    """``--threads N``: the thread count of NumPy's BLAS, PyTorch and TensorFlow; the command applies it
    with ``backends.threads.use_threads`` before it loads data or a framework."""
    from backends.threads import MAX_THREADS

    return typer.Option(None, "--threads", min=1, max=MAX_THREADS, metavar="N",
                        help="Threads for NumPy, PyTorch and TensorFlow (recorded in run.json, equiv.json) [default: 1, or "
                        "OMP_NUM_THREADS if set: one thread gives the same bits on every machine and never "
                        "collapses when other work shares the cores].")


def _device_form(value: str | None) -> str | None:
    """``--device`` in its normal form (``backends.devices.parse_device``); another form is a usage error."""
    from backends.devices import DeviceError, parse_device

    if value is None:
        return None
    try:
        return parse_device(value)
    except DeviceError as exc:
        raise typer.BadParameter(str(exc)) from None


def device_option(default: str | None = "auto"):
    """``--device auto|cpu|cuda|cuda:N|mps``: where the model runs (``backends.devices``). ``train`` passes
    ``None`` as the default, so that a resumed run keeps the device it recorded unless one is given."""
    return typer.Option(default, "--device", metavar="auto|cpu|cuda|cuda:N|mps", callback=_device_form,
                        show_default=False,
                        help="Where the model runs: auto (a CUDA GPU when the backend's framework sees one, else "
                        "the CPU), cpu, cuda (= cuda:0), cuda:N, mps (Apple GPUs, torch). The numpy backend runs "
                        "on the CPU only [default: auto].")


def tf32_option():
    """``--tf32/--no-tf32``: TensorFloat-32 matmuls and convolutions on a CUDA GPU, an explicit choice."""
    return typer.Option(None, "--tf32/--no-tf32", show_default=False,
                        help="Let float32 matmuls and convolutions on a CUDA GPU use TensorFloat-32 (10-bit "
                        "mantissa inputs, faster; recorded in run.json) [default: --no-tf32].")


def deterministic_option():
    """``--deterministic``: deterministic algorithms on a GPU (bit-identical repeat runs, slower)."""
    return typer.Option(None, "--deterministic/--no-deterministic", show_default=False,
                        help="On a GPU, use deterministic algorithms only, so two runs with the same seed give "
                        "the same weights bit for bit (slower; CPU runs are deterministic anyway; recorded in "
                        "run.json) [default: --no-deterministic].")


def describe_placement(device: str, name: str, *, tf32: Optional[bool] = None) -> str:
    """``"cpu"``, or ``"cuda:0 (NVIDIA H200), tf32 off"``: the device as a header line shows it (TF32
    only where it can apply, on a CUDA device, and only when ``tf32`` is given)."""
    text = device if device == "cpu" else f"{device} ({name})"
    if tf32 is not None and device.startswith("cuda"):
        text += f", tf32 {'on' if tf32 else 'off'}"
    return text
