"""What the activation layers (ReLU, LeakyReLU, PReLU, ELU, Softmax) share: each is ``is_activation``, and
``activation`` names the activation of the language (``ActivationFn``) that auto-init, the lints, the loss
fusion and diagnose take the layer for.

That is the layer's exact function when the language has it (ReLU() is relu, LeakyReLU(s) is
leaky_relu(alpha=s), ELU(a) is elu(alpha=a), Softmax() is softmax); otherwise (``activation_is_exact`` false:
PReLU, a ReLU with ``max_value`` or ``threshold``, a softmax over other axes than the last) the kind of its
family: He for a kernel before a PReLU (leaky_relu, its slope learnt) or a clipped ReLU (relu, or leaky_relu
when it has a negative slope); Glorot before any softmax; and a cross-entropy never fuses with a softmax that is
not over the last axis alone (compiler.semantics.losses refuses that output). What a layer computes is its own
forward in each backend, never this ``ActivationFn``.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar

from compiler.ir.values import ActivationFn
from compiler.ir.layers.base import LayerBase


class ActivationLayer(LayerBase):
    """An activation layer of its own kind (not ``Activation(fn)``): y = f(x), the same shape."""

    is_activation: ClassVar = True

    @property
    def activation(self) -> ActivationFn:
        """The language activation this layer is, or the kind of its family (see the module)."""
        raise NotImplementedError
