"""Sliding windows over NHWC images, shared by Conv2D and pooling (TensorFlow's padding)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from compiler.ir.layers.geometry import same_padding, window_output_size


def pad_amounts(shape, window, strides, padding, dilation=(1, 1)) -> tuple[tuple[int, int], tuple[int, int]]:
    """(top, bottom), (left, right): zero for valid; TensorFlow's asymmetric amounts for same."""
    if padding != "same":
        return (0, 0), (0, 0)
    return (same_padding(shape[1], window[0], strides[0], dilation[0]),
            same_padding(shape[2], window[1], strides[1], dilation[1]))


def pad(x: np.ndarray, amounts, value: float = 0.0) -> np.ndarray:
    (top, bottom), (left, right) = amounts
    if top == bottom == left == right == 0:
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def output_size(shape, window, strides, padding, dilation=(1, 1)) -> tuple[int, int]:
    return (window_output_size(shape[1], window[0], strides[0], padding, dilation[0]),
            window_output_size(shape[2], window[1], strides[1], padding, dilation[1]))


def windows(xp: np.ndarray, window, strides, out, dilation=(1, 1)) -> np.ndarray:
    """A read-only view (N, out_h, out_w, kh, kw, C): window (i, j) of the padded input ``xp``."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(n, out[0], out[1], window[0], window[1], c),
                      strides=(s0, s1 * strides[0], s2 * strides[1], s1 * dilation[0], s2 * dilation[1], s3),
                      writeable=False)


def scatter_windows(d_windows: np.ndarray, padded_shape, strides, dilation=(1, 1)) -> np.ndarray:
    """The adjoint of ``windows``: add each window's gradient back where it was read from."""
    dxp = np.zeros(padded_shape, dtype=d_windows.dtype)
    _, oh, ow, kh, kw, _ = d_windows.shape
    for i in range(kh):
        for j in range(kw):
            r, c = i * dilation[0], j * dilation[1]
            dxp[:, r:r + strides[0] * (oh - 1) + 1:strides[0], c:c + strides[1] * (ow - 1) + 1:strides[1], :] \
                += d_windows[:, :, :, i, j, :]
    return dxp


def unpad(dxp: np.ndarray, amounts) -> np.ndarray:
    (top, bottom), (left, right) = amounts
    return dxp[:, top:dxp.shape[1] - bottom, left:dxp.shape[2] - right, :]
