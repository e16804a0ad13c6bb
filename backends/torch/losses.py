"""Losses as Keras 3 computes them (the formulas of ``compiler.semantics.losses``), on torch tensors.

``LOSSES[kind](out, y, logits) -> scalar tensor``: the mean of the per-position loss (a sample of an (N, C)
output, a pixel of an (N, H, W, C) one: Keras' cross-entropies reduce the last axis only);
autograd gives the gradients NumPy writes by hand. ``logits=True``: ``out`` are logits (the spec
says ``from_logits=true``, or the loss reads the input of the output softmax/sigmoid: the fusion rule); otherwise
probabilities are clipped to [ε, 1 − ε] (``EPSILON``; the gradient passes inside, bounds included, as
TensorFlow's and ``torch.clamp``'s) and categorical outputs are renormalised to sum to 1.
``y``: int64 class indices (N,), or one a pixel (N, H, W), for the sparse loss, else a float tensor shaped like
``out``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from compiler.semantics.losses import EPSILON

LossFn = Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor]
LOSSES: dict[str, LossFn] = {}


def register(kind: str):
    def wrap(fn):
        LOSSES[kind] = fn
        return fn
    return wrap


def _clip(p):
    return p.clamp(EPSILON, 1 - EPSILON)


@register("mse")
def mse(out, y, logits):
    """mean((out − y)²)."""
    return F.mse_loss(out, y)


@register("mae")
def mae(out, y, logits):
    """mean(|out − y|) (gradient sign(out − y)/n, 0 where equal)."""
    return F.l1_loss(out, y)


@register("binary_crossentropy")
def binary_crossentropy(out, y, logits):
    """Logits z: mean(max(z, 0) − z·y + log(1 + e^−|z|)) (gradient (σ(z) − y)/n);
    probabilities p: −mean(y·log p + (1 − y)·log(1 − p)) with p clipped."""
    if logits:
        return F.binary_cross_entropy_with_logits(out, y)
    p = _clip(out)
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


@register("categorical_crossentropy")
def categorical_crossentropy(out, y, logits):
    """Logits z: −mean_n Σ y·log_softmax(z); probabilities: q = out/Σout, −mean_n Σ y·log clip(q); n runs over
    the positions (N·H·W for a per-pixel output)."""
    n = out.numel() // out.shape[-1]
    if logits:
        return -(y * F.log_softmax(out, dim=-1)).sum() / n
    q = out / out.sum(dim=-1, keepdim=True)
    return -(y * torch.log(_clip(q))).sum() / n


@register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(out, y, logits):
    """Logits z: −mean_n log_softmax(z)[y]; probabilities p: the same formula on log(clip(p)) (Keras); n runs
    over the positions (the output seen as (N·H·W, C) for a per-pixel output, y flattened with it)."""
    out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    if logits:
        return F.cross_entropy(out, y)
    return F.cross_entropy(torch.log(_clip(out)), y)
