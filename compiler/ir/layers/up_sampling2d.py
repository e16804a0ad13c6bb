"""UpSampling2D(size=2, interpolation=nearest): y[i, j] = x[⌊i/s_h⌋, ⌊j/s_w⌋], or half-pixel bilinear (TF).

nearest:  y[n,i,j,c] = x[n, ⌊i/s_h⌋, ⌊j/s_w⌋, c]  (every pixel repeated s_h × s_w times)
bilinear: y[n,i,j,c] = Σ_{h,w} A_h[i,h] · x[n,h,w,c] · A_w[j,w], TensorFlow's resize with half-pixel
          centres (Keras 3 on TensorFlow: ``ops.image.resize``, antialias off; torch's
          ``F.interpolate(mode="bilinear", align_corners=False)``): output pixel i samples the input at
          t = max((i + ½)/s − ½, 0), between pixels lo = ⌊t⌋ and hi = min(lo + 1, size − 1) with weights
          1 − (t − lo) and t − lo (``compiler.semantics.resize.bilinear_taps``).

Output (h·s_h, w·s_w, c); no weights.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import LayerBase, require_rank

Pair = tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class UpSampling2D(LayerBase):
    kind: Literal["UpSampling2D"] = "UpSampling2D"
    size: Pair = (2, 2)
    interpolation: Literal["nearest", "bilinear"] = "nearest"

    positional: ClassVar = ("size",)
    snake_name: ClassVar = "up_sampling2d"
    # no nonlinearity: auto-init looks through it; no weights, no randomness, the same in training
    transparent: ClassVar = True
    adapts_through: ClassVar = True

    def infer_shape(self, shape):
        require_rank("UpSampling2D", shape, 3)
        return (shape[0] * self.size[0], shape[1] * self.size[1], shape[2])
