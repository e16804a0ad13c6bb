"""Convolution and pooling arithmetic, in one place, as TensorFlow/Keras define it."""

from __future__ import annotations

from compiler.ir.layers.base import ShapeError


def window_output_size(size: int, window: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output length of a sliding window along one axis.

    valid: ⌈(size − (window−1)·dilation) / stride⌉ (≤ 0 means the window does not fit)
    same:  ⌈size / stride⌉
    """
    if padding == "same":
        return _ceil_div(size, stride)
    effective = (window - 1) * dilation + 1
    return _ceil_div(size - effective + 1, stride)


def same_padding(size: int, window: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``same`` padding (before, after) for one axis: the extra pixel goes at the end.

    total = max((⌈size/stride⌉ − 1)·stride + (window−1)·dilation + 1 − size, 0),
    before = ⌊total/2⌋, after = total − before.
    """
    out = _ceil_div(size, stride)
    total = max((out - 1) * stride + (window - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ in integers: exact for any size (a float quotient overflows or rounds for huge ones)."""
    return -(-a // b)


def transposed_output_size(size: int, window: int, stride: int, padding: str, output_padding: int | None,
                           dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis (Keras' ``deconv_output_length``), with
    k = (window−1)·dilation + 1:

    valid: (size−1)·stride + k + output_padding, output_padding defaulting to max(k, stride) − k
    same:  size·stride without output_padding, else (size−1)·stride + k mod 2 + output_padding
    """
    k = (window - 1) * dilation + 1
    if padding == "same":
        return size * stride if output_padding is None else (size - 1) * stride + k % 2 + output_padding
    return (size - 1) * stride + k + (max(k, stride) - k if output_padding is None else output_padding)


def transposed_crop(size: int, window: int, stride: int, padding: str, output_size: int,
                    dilation: int = 1) -> tuple[int, int]:
    """(front, back): how TensorFlow's transposed convolution cuts its ``output_size`` pixels out of the full
    one, (size−1)·stride + k long (k = (window−1)·dilation + 1): ``front`` pixels dropped before (the
    padding a Conv2D over the output would put there: 0 for valid, ``same_padding``'s first amount for
    same), ``back`` after; a negative ``back`` extends the output past the full length with zeros."""
    front = same_padding(output_size, window, stride, dilation)[0] if padding == "same" else 0
    full = (size - 1) * stride + (window - 1) * dilation + 1
    return front, full - front - output_size


def conv_output_hw(kind: str, shape, kernel_size, strides, padding: str, dilation_rate) -> tuple[int, int]:
    """The (height, width) a convolution of ``kernel_size``/``strides``/``padding``/``dilation_rate`` gives for an
    (h, w, c) input ``shape`` (``window_output_size`` per axis); ``ShapeError`` naming ``kind`` when the kernel
    does not fit a ``valid`` input."""
    out = []
    for axis, size in enumerate(shape[:2]):
        n = window_output_size(size, kernel_size[axis], strides[axis], padding, dilation_rate[axis])
        if n <= 0:
            span = (kernel_size[axis] - 1) * dilation_rate[axis] + 1
            raise ShapeError(f"{kind} kernel spans {span} pixels along {('height', 'width')[axis]} "
                             f"but the input is only {size} (padding=valid); use a smaller kernel or "
                             f"padding=same")
        out.append(n)
    return out[0], out[1]
