"""Small specs that together cover every layer kind, activation, loss, regularizer, optimizer,
schedule and clipping mode, with random data shaped for each: the generated matrix of the
equivalence tests. ``CASES[name] = spec text``; ``case_data(spec, n)`` gives (x, y)."""

from __future__ import annotations

import numpy as np

from runtime.data import format_targets

CNN = """model {name} {{
    Input([10, 12, 2])
    Rescaling(0.5, offset=0.1)
    Conv2D(4, 3, strides=2, padding=same, activation=relu, kernel_regularizer=l2(0.01))
    BatchNormalization(momentum=0.9)
    Conv2D(3, [2, 3], padding=valid, dilation_rate=[1, 2], activation=leaky_relu(alpha=0.1))
    MaxPooling2D(2, strides=1, padding=same)
    AveragePooling2D(2, padding=same)
    SpatialDropout2D(0.25)
    Conv2D(5, 3, padding=same, use_bias=false, activity_regularizer=l1(0.01))
    BatchNormalization(center=false)
    Activation(elu)
    {head}
}}
train {{
    loss = {loss}
    optimizer = {optimizer}
    schedule = {schedule}
    batch_size = 8
    seed = 3
    {extra}
}}
"""

MLP = """model {name} {{
    Input([6])
    Dense(7, activation=gelu, kernel_initializer=orthogonal, bias_regularizer=l1l2(l1=0.01, l2=0.02))
    Dropout(0.3)
    Dense(6, activation=gelu(approximate=true), kernel_initializer=lecun_normal)
    Dense(5, activation=silu, activity_regularizer=l2(0.01))
    BatchNormalization(scale=false, epsilon=0.01)
    Dense(5, activation=tanh, kernel_initializer=truncated_normal(stddev=0.3))
    Dense(4, activation=sigmoid, kernel_initializer=random_uniform(minval=-0.3, maxval=0.3))
    {head}
}}
train {{
    loss = {loss}
    optimizer = {optimizer}
    schedule = {schedule}
    batch_size = 8
    seed = 4
    {extra}
}}
"""

CASES = {
    "cnn-flatten-sparse-adam": CNN.format(
        name="a", head="Flatten() Dense(3, activation=softmax)", loss="sparse_categorical_crossentropy",
        optimizer="adam(learning_rate=0.01)", schedule="constant", extra=""),
    "cnn-gap-categorical-logits-sgd": CNN.format(
        name="b", head="GlobalAveragePooling2D() Dense(3)", loss="categorical_crossentropy(from_logits=true)",
        optimizer="sgd(learning_rate=0.05, momentum=0.9, nesterov=true)", schedule="step(step_size=3, gamma=0.5)",
        extra="clip_norm = 1.0"),
    "cnn-gap-keepdims-binary-rmsprop": CNN.format(
        name="c", head="GlobalAveragePooling2D(keepdims=true) Flatten() Dense(1, activation=sigmoid)",
        loss="binary_crossentropy", optimizer="rmsprop(learning_rate=0.005, momentum=0.5, centered=true)",
        schedule="exponential(decay_steps=4, decay_rate=0.5, staircase=true)", extra="clip_value = 0.5"),
    "mlp-mse-adamw": MLP.format(
        name="d", head="Dense(2)", loss="mse", optimizer="adamw(learning_rate=0.01, weight_decay=0.1)",
        schedule="warmup(steps=5, start=0.1, then=cosine(decay_steps=20, alpha=0.1))", extra=""),
    "mlp-mae-adagrad": MLP.format(
        name="e", head="Dense(2, activation=relu)", loss="mae", optimizer="adagrad(learning_rate=0.05)",
        schedule="exponential(decay_steps=10, decay_rate=0.9)", extra=""),
    "mlp-sparse-probabilities-amsgrad": MLP.format(
        name="f", head="Dense(3, activation=softmax) Flatten()", loss="sparse_categorical_crossentropy",
        optimizer="adam(learning_rate=0.01, amsgrad=true)", schedule="constant", extra=""),
    "mlp-categorical-softmax-layer-sgd": MLP.format(
        name="g", head="Dense(3) Activation(softmax) Activation(linear) Dropout(0.0)", loss="categorical_crossentropy",
        optimizer="sgd(learning_rate=0.1)", schedule="warmup(steps=3)", extra=""),
    "mlp-binary-logits-rmsprop": MLP.format(
        name="h", head="Dense(1)", loss="binary_crossentropy(from_logits=true)",
        optimizer="rmsprop(learning_rate=0.01)", schedule="cosine(decay_steps=10)", extra=""),
    "mlp-sgd-weight-decay-momentum": MLP.format(
        name="i", head="Dense(3)", loss="sparse_categorical_crossentropy(from_logits=true)",
        optimizer="sgd(learning_rate=0.05, momentum=0.8, weight_decay=0.01)", schedule="step(step_size=4)",
        extra=""),
    # Normalization: adapted on the data after Rescaling, chained (a scalar, per position, per channel), and
    # with given statistics anywhere (one inverted)
    "mlp-normalization-adam": """model n1 {
        Input([6])
        Rescaling(3.0, offset=5.0)
        Normalization()
        Dense(5, activation=relu)
        Normalization(mean=[0.5, -1, 2, 0, 1], variance=[4, 0.25, 1, 9, 2], invert=true)
        Dense(3, activation=softmax)
    }
    train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 5 }""",
    "cnn-normalization-rmsprop": """model n2 {
        Input([6, 5, 3])
        Rescaling(10.0, offset=-2.0)
        Normalization(axis=none)
        Normalization(axis=[1, 2])
        Normalization()
        Conv2D(4, 3, activation=relu)
        Normalization(mean=0.5, variance=2.0)
        Flatten()
        Dense(2)
    }
    train { loss = mse optimizer = rmsprop(learning_rate=0.01) batch_size = 8 seed = 6 }""",
    # depthwise and separable convolutions (a multiplier, asymmetric same padding, strides with dilation,
    # regularizers, no bias) and up-sampling (nearest, bilinear with an odd factor) in NCHW inside torch
    "cnn-depthwise-separable-upsampling-sgd": """model k2 {
        Input([7, 6, 3])
        DepthwiseConv2D(3, strides=2, padding=same, depth_multiplier=2, activation=relu,
                        depthwise_regularizer=l2(0.01), bias_regularizer=l1(0.01))
        UpSampling2D([3, 2], interpolation=bilinear)
        SeparableConv2D(4, [2, 3], padding=same, dilation_rate=[2, 1], activation=elu,
                        pointwise_regularizer=l2(0.01), activity_regularizer=l1(0.01))
        UpSampling2D()
        DepthwiseConv2D([3, 2], strides=2, dilation_rate=2, padding=same, use_bias=false)
        SeparableConv2D(3, 3, strides=2, depth_multiplier=2, activation=tanh)
        Flatten()
        Dense(3, activation=softmax)
    }
    train { loss = sparse_categorical_crossentropy optimizer = sgd(learning_rate=0.05, momentum=0.9) batch_size = 8
            seed = 9 }""",
    # the per-sample normalizations (γ/β with their own initializers and regularizers, per-channel groups and
    # instance normalization, Keras' order of mixed-sign axes, a vector) and the transposed convolution (TF's
    # asymmetric same crop, output_padding, dilation, no bias) between them; NCHW inside torch. No bias right
    # before an instance normalization: it cancels it, its gradient is round-off that Adam would amplify
    "cnn-transpose-layernorm-groupnorm-adam": """model k1 {
        Input([3, 3, 2])
        Conv2D(4, 3, padding=same)
        GroupNormalization(2, gamma_initializer=random_uniform(minval=0.5, maxval=1.5), beta_regularizer=l2(0.01))
        Activation(relu)
        Conv2DTranspose(4, 3, strides=2, padding=same, activation=relu)
        LayerNormalization(epsilon=0.01, beta_initializer=random_normal(stddev=0.1))
        Conv2DTranspose(3, [3, 4], strides=2, padding=same, output_padding=1)
        GroupNormalization(1, center=false)
        Conv2DTranspose(2, 2, dilation_rate=2, use_bias=false, kernel_regularizer=l2(0.01))
        GroupNormalization(-1)
        LayerNormalization([-1, 1], gamma_initializer=random_uniform(minval=0.5, maxval=1.5))
        Flatten()
        Dense(5, activation=tanh)
        LayerNormalization(center=false, gamma_regularizer=l1(0.01))
        Dense(3, activation=softmax)
    }
    train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 9 }""",
    # padding, cropping, reshaping and permuting across images (NCHW inside torch), sequences and vectors,
    # with kernels between them so that an axis mixed up changes the numbers; a BatchNormalization of a
    # sequence (its channels last, where torch holds the tensor as it is)
    "cnn-pad-crop-reshape-permute-adam": """model k3 {
        Input([6, 5, 2])
        ZeroPadding2D([[1, 0], [2, 1]])
        Conv2D(4, 3, activation=relu)
        Permute([2, 1, 3])
        Cropping2D([[1, 0], [0, 1]])
        Reshape([4, 5, 4])
        Conv2D(3, 2, padding=same, activation=tanh)
        Reshape([10, 6])
        Permute([2, 1])
        BatchNormalization(momentum=0.5)
        Reshape([2, 5, 6])
        GlobalMaxPooling2D(keepdims=true)
        Permute([3, 1, 2])
        Flatten()
        Dense(3, activation=softmax)
    }
    train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 7 }""",
    # the activation layers: PReLU per channel and per position, a clipped and thresholded ReLU with a slope,
    # softmax over an image's height and over its spatial axes (NCHW inside torch), relu6, the leaky path, and
    # a Softmax output layer fused with the loss
    "cnn-activation-layers-adam": """model k4 {
        Input([6, 5, 3])
        Conv2D(4, 3, padding=same)
        PReLU(random_uniform(minval=0.05, maxval=0.3), shared_axes=[1, 2])
        Conv2D(4, 3)
        ReLU(max_value=1.5, negative_slope=0.125, threshold=0.25)
        Softmax(1)
        Conv2D(3, 2, padding=same)
        LeakyReLU()
        Softmax([1, 2])
        Conv2D(3, 1)
        PReLU(random_uniform(minval=-0.2, maxval=0.4))
        ELU(0.5)
        Flatten()
        Dense(6)
        ReLU(6)
        Dense(5)
        ReLU(negative_slope=0.25)
        Dense(4)
        ReLU()
        Dense(3)
        Softmax()
    }
    train { loss = categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 8 }""",
    # graphs: residual blocks (a block repeated, each with its skip; a projection shortcut), dropout inside a
    # residual body, branches joined by Concatenate (one of them the identity), a value used several times
    "graph-residual-branches-adam": """block unit(filters) {
        residual {
            Conv2D(filters, 3, padding=same, activation=relu)
            Dropout(0.25)
            Conv2D(filters, 3, padding=same)
            BatchNormalization()
        }
        Activation(relu)
    }
    model g1 {
        Input([6, 6, 2])
        Conv2D(4, 3, padding=same, activation=relu)
        repeat 2 { unit(4) }
        residual {
            Conv2D(6, 3, strides=2, padding=same)
            BatchNormalization()
        } shortcut {
            Conv2D(6, 1, strides=2)
        }
        parallel Concatenate() {
            branch { Conv2D(2, 1, activation=tanh) }
            branch { MaxPooling2D(3, strides=1, padding=same) }
            branch { }
        }
        GlobalAveragePooling2D()
        Dense(3, activation=softmax)
    }
    train { loss = sparse_categorical_crossentropy optimizer = adam(learning_rate=0.01) batch_size = 8 seed = 9 }""",
    # every merge kind, with broadcasting (a pooled (1, 1, c) value against images), three inputs, ties
    # possible where a relu output meets Maximum/Minimum, Concatenate along the width and along vectors
    "graph-merges-sgd": """model g2 {
        Input([6, 5, 2])
        stem = Conv2D(4, 3, padding=same, activation=relu)
        a = Conv2D(4, 1)
        b = Conv2D(4, 3, padding=same, activation=tanh)(stem)
        pooled = GlobalAveragePooling2D(keepdims=true)(stem)
        high = Maximum()(a, b, stem)
        low = Minimum()(a, pooled)
        gap = Subtract()(high, low)
        scaled = Multiply()(gap, pooled)
        mean = Average()(scaled, b, a)
        Concatenate(axis=2)(mean, a)
        flat = Flatten()
        left = Dense(4, activation=elu)
        right = Dense(4)(flat)
        summed = Add()(left, right)
        side = Dense(2)(flat)
        Concatenate()(summed, side)
        Dense(3)
    }
    train { loss = mse optimizer = sgd(learning_rate=0.05, momentum=0.9) batch_size = 8 seed = 10 }""",
}


def case_data(spec, n: int = 40, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs for ``spec`` and random targets in the form its loss wants."""
    rng = np.random.default_rng(17)
    x = rng.normal(size=(n, *spec.input_shape)).astype(dtype)
    units = spec.output_shape[-1]
    loss = spec.training.loss.kind
    if loss in ("mse", "mae"):
        y = rng.normal(size=(n, units))
    else:
        y = rng.integers(0, max(units, 2), n)
    y, _ = format_targets(y, tuple(spec.output_shape), loss, np.dtype(dtype))
    return x, y
