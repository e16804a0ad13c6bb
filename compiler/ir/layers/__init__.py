"""Every layer kind of the language, one file each, and the discriminated union over them."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from compiler.ir.layers.activation import Activation
from compiler.ir.layers.average_pooling2d import AveragePooling2D
from compiler.ir.layers.base import LayerBase, ShapeError
from compiler.ir.layers.batch_normalization import BatchNormalization
from compiler.ir.layers.conv2d import Conv2D
from compiler.ir.layers.dense import Dense
from compiler.ir.layers.dropout import Dropout
from compiler.ir.layers.flatten import Flatten
from compiler.ir.layers.global_average_pooling2d import GlobalAveragePooling2D
from compiler.ir.layers.input import Input
from compiler.ir.layers.max_pooling2d import MaxPooling2D
from compiler.ir.layers.normalization import Normalization
from compiler.ir.layers.rescaling import Rescaling
from compiler.ir.layers.spatial_dropout2d import SpatialDropout2D
from compiler.ir.layers.weight import LayerWeight

# THE list of layer kinds, in the order the README's reference shows them. Everything else is derived from
# it or checked against it (tests/test_layer_registry.py): the IR union below, the spec builder's names, the
# reference, and every backend's and emitter's table.
LAYER_CLASSES: dict[str, type[LayerBase]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Input, Rescaling, Normalization, Dense, Conv2D, MaxPooling2D, AveragePooling2D,
                GlobalAveragePooling2D, Flatten, Dropout, SpatialDropout2D, BatchNormalization, Activation)
}

# Any one layer, told apart by its ``kind``.
Layer = Annotated[Union[tuple(LAYER_CLASSES.values())], Field(discriminator="kind")]

__all__ = ["LAYER_CLASSES", "Layer", "LayerBase", "LayerWeight", "ShapeError", *LAYER_CLASSES]
