"""Every layer kind of the language, one file each, and the discriminated union over them."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from compiler.ir.layers.activation import Activation
from compiler.ir.layers.add import Add
from compiler.ir.layers.average import Average
from compiler.ir.layers.concatenate import Concatenate
from compiler.ir.layers.maximum import Maximum
from compiler.ir.layers.merge import MergeLayer
from compiler.ir.layers.minimum import Minimum
from compiler.ir.layers.multiply import Multiply
from compiler.ir.layers.subtract import Subtract
from compiler.ir.layers.average_pooling2d import AveragePooling2D
from compiler.ir.layers.base import LayerBase, ShapeError
from compiler.ir.layers.batch_normalization import BatchNormalization
from compiler.ir.layers.conv2d import Conv2D
from compiler.ir.layers.conv2d_transpose import Conv2DTranspose
from compiler.ir.layers.cropping2d import Cropping2D
from compiler.ir.layers.dense import Dense
from compiler.ir.layers.depthwise_conv2d import DepthwiseConv2D
from compiler.ir.layers.dropout import Dropout
from compiler.ir.layers.elu import ELU
from compiler.ir.layers.flatten import Flatten
from compiler.ir.layers.global_average_pooling2d import GlobalAveragePooling2D
from compiler.ir.layers.global_max_pooling2d import GlobalMaxPooling2D
from compiler.ir.layers.group_normalization import GroupNormalization
from compiler.ir.layers.input import Input
from compiler.ir.layers.layer_normalization import LayerNormalization
from compiler.ir.layers.leaky_relu import LeakyReLU
from compiler.ir.layers.max_pooling2d import MaxPooling2D
from compiler.ir.layers.normalization import Normalization
from compiler.ir.layers.permute import Permute
from compiler.ir.layers.prelu import PReLU
from compiler.ir.layers.relu import ReLU
from compiler.ir.layers.rescaling import Rescaling
from compiler.ir.layers.reshape import Reshape
from compiler.ir.layers.separable_conv2d import SeparableConv2D
from compiler.ir.layers.softmax import Softmax
from compiler.ir.layers.spatial_dropout2d import SpatialDropout2D
from compiler.ir.layers.up_sampling2d import UpSampling2D
from compiler.ir.layers.weight import LayerWeight
from compiler.ir.layers.zero_padding2d import ZeroPadding2D

# THE list of layer kinds, in the order the README's reference shows them. Everything else is derived from
# it or checked against it (tests/test_layer_registry.py): the IR union below, the spec builder's names, the
# reference, and every backend's and emitter's table.
LAYER_CLASSES: dict[str, type[LayerBase]] = {
    cls.model_fields["kind"].default: cls
    for cls in (Input, Rescaling, Normalization, Dense, Conv2D, MaxPooling2D, AveragePooling2D,
                GlobalAveragePooling2D, Flatten, Dropout, SpatialDropout2D, BatchNormalization, Activation,
                # padding, cropping, global max pooling and the reshaping kinds
                ZeroPadding2D, Cropping2D, GlobalMaxPooling2D, Reshape, Permute,
                # depthwise and separable convolutions, up-sampling
                DepthwiseConv2D, SeparableConv2D, UpSampling2D,
                # per-sample normalizations, the transposed convolution
                LayerNormalization, GroupNormalization, Conv2DTranspose,
                # the activation layers
                ReLU, LeakyReLU, PReLU, ELU, Softmax,
                # the merge layers (two or more inputs)
                Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)
}

# Any one layer, told apart by its ``kind``.
Layer = Annotated[Union[tuple(LAYER_CLASSES.values())], Field(discriminator="kind")]

__all__ = ["LAYER_CLASSES", "Layer", "LayerBase", "LayerWeight", "MergeLayer", "ShapeError", *LAYER_CLASSES]
