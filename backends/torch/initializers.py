"""Native mode's initial weights: torch's RNG, Keras' distributions (``compiler.ir.values``).

Each weight is drawn in its Keras shape (so fans, and the orthogonal initializer's
rows = ∏shape[:-1], cols = shape[-1], are Keras'), from its own ``torch.Generator`` seeded from
(seed, weight name), in float64, then cast. The distributions are those of
``compiler.semantics.initializers`` (the canonical draw), only the random stream differs:

- random_normal: ``normal_(mean, stddev)``; random_uniform: ``uniform_(minval, maxval)``;
- truncated_normal: ``nn.init.trunc_normal_`` with a, b = mean ∓ 2·stddev (torch's a and b are
  absolute bounds; it samples the truncated normal exactly, by inverting the CDF);
- glorot/he/lecun: s = scale/max(1, n) as Keras; uniform: U(±√(3s)); normal: Keras' truncated
  normal with σ = √s/0.87962566103423978 truncated at ±2σ (torch's kaiming/xavier *normal* are
  untruncated, so they are not used);
- orthogonal: ``nn.init.orthogonal_`` on the (rows, cols) matrix, which is Keras' algorithm (QR of
  a standard normal matrix, transposed when rows < cols, Q·sign(diag R), times the gain).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

from compiler.semantics.initializers import TRUNCATED_STDDEV_FACTOR, VARIANCE_SCALING, scaled_variance
from compiler.ir.spec import Spec
from compiler.weights import weight_specs


def _constant(init, t, fans, g):
    value = {"zeros": 0.0, "ones": 1.0}.get(init.kind, float(init.value))
    return t.fill_(value)


def _random_normal(init, t, fans, g):
    return t.normal_(init.mean, init.stddev, generator=g)


def _truncated_normal(init, t, fans, g):
    a, b = init.mean - 2 * init.stddev, init.mean + 2 * init.stddev
    return torch.nn.init.trunc_normal_(t, init.mean, init.stddev, a, b, generator=g)


def _random_uniform(init, t, fans, g):
    return t.uniform_(init.minval, init.maxval, generator=g)


def _variance_scaling(init, t, fans, g):
    s = scaled_variance(init.kind, fans)
    if VARIANCE_SCALING[init.kind][2] == "uniform":
        limit = math.sqrt(3.0 * s)
        return t.uniform_(-limit, limit, generator=g)
    stddev = math.sqrt(s) / TRUNCATED_STDDEV_FACTOR
    return torch.nn.init.trunc_normal_(t, 0.0, stddev, -2 * stddev, 2 * stddev, generator=g)


def _orthogonal(init, t, fans, g):
    if t.dim() < 2:
        raise ValueError(f"the orthogonal initializer needs a weight of rank 2 or more (as Keras); "
                         f"got shape {tuple(t.shape)}")
    rows, cols = math.prod(t.shape[:-1]), t.shape[-1]
    matrix = torch.empty(rows, cols, dtype=t.dtype)
    torch.nn.init.orthogonal_(matrix, gain=init.gain, generator=g)
    return t.copy_(matrix.reshape(t.shape))


SAMPLERS = {
    "zeros": _constant, "ones": _constant, "constant": _constant,
    "random_normal": _random_normal, "truncated_normal": _truncated_normal, "random_uniform": _random_uniform,
    **{kind: _variance_scaling for kind in VARIANCE_SCALING},
    "orthogonal": _orthogonal,
}


def stream_seed(seed: int, name: str) -> int:
    """The seed of one weight's ``torch.Generator``: from (seed, crc32(name)), as the canonical streams."""
    state = np.random.SeedSequence([int(seed), 7, zlib.crc32(name.encode())]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def native_initial_weights(spec: Spec, seed: int, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Every weight of ``weight_specs(spec)`` by name, in Keras layouts, drawn with torch's RNG."""
    out: dict[str, torch.Tensor] = {}
    for w in weight_specs(spec):
        kind = w.initializer.kind
        if kind not in SAMPLERS:
            raise ValueError(f"unknown (or unresolved) initializer kind {kind!r} for {w.name}")
        g = torch.Generator().manual_seed(stream_seed(seed, w.name))
        t = torch.empty(w.shape, dtype=torch.float64)
        with torch.no_grad():
            SAMPLERS[kind](w.initializer, t, tuple(w.fans), g)
        out[w.name] = t.to(dtype)
    return out
