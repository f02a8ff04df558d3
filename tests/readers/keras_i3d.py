"""The Keras I3D port's model (dlpbc/keras-kinetics-i3d ``i3d_inception.py``, include_top, channels_last),
rebuilt here layer for layer with the same names, so tests save real Keras files and run the real graph."""

from __future__ import annotations

from typing import Any

# (block, [branch_0, branch_1a, branch_1b, branch_2a, branch_2b, branch_3]) in the port's order.
MIXED = (
    ("3b", (64, 96, 128, 16, 32, 32)),
    ("3c", (128, 128, 192, 32, 96, 64)),
    ("4b", (192, 96, 208, 16, 48, 64)),
    ("4c", (160, 112, 224, 24, 64, 64)),
    ("4d", (128, 128, 256, 24, 64, 64)),
    ("4e", (112, 144, 288, 32, 64, 64)),
    ("4f", (256, 160, 320, 32, 128, 128)),
    ("5b", (256, 160, 320, 32, 128, 128)),
    ("5c", (384, 192, 384, 48, 128, 128)),
)


def build(keras: Any, input_shape: tuple[int, int, int, int], classes: int = 400) -> Any:
    """``Inception_Inflated3d(include_top=True, input_shape=..., classes=...)`` with ``keras`` (Keras 3 or tf_keras)."""
    L = keras.layers

    def conv3d_bn(x, filters, kernel, strides=(1, 1, 1), use_bias=False, use_activation_fn=True, use_bn=True, name=""):
        x = L.Conv3D(filters, kernel, strides=strides, padding="same", use_bias=use_bias, name=f"{name}_conv")(x)
        if use_bn:
            x = L.BatchNormalization(axis=4, scale=False, name=f"{name}_bn")(x)
        if use_activation_fn:
            x = L.Activation("relu", name=name)(x)
        return x

    def pool(x, kernel, strides, name):
        return L.MaxPooling3D(kernel, strides=strides, padding="same", name=name)(x)

    inputs = L.Input(shape=input_shape)
    x = conv3d_bn(inputs, 64, (7, 7, 7), strides=(2, 2, 2), name="Conv3d_1a_7x7")
    x = pool(x, (1, 3, 3), (1, 2, 2), "MaxPool2d_2a_3x3")
    x = conv3d_bn(x, 64, (1, 1, 1), name="Conv3d_2b_1x1")
    x = conv3d_bn(x, 192, (3, 3, 3), name="Conv3d_2c_3x3")
    x = pool(x, (1, 3, 3), (1, 2, 2), "MaxPool2d_3a_3x3")
    for block, (b0, b1a, b1b, b2a, b2b, b3) in MIXED:
        if block == "4b":
            x = pool(x, (3, 3, 3), (2, 2, 2), "MaxPool2d_4a_3x3")
        if block == "5b":
            x = pool(x, (2, 2, 2), (2, 2, 2), "MaxPool2d_5a_2x2")
        branch_0 = conv3d_bn(x, b0, (1, 1, 1), name=f"Conv3d_{block}_0a_1x1")
        branch_1 = conv3d_bn(x, b1a, (1, 1, 1), name=f"Conv3d_{block}_1a_1x1")
        branch_1 = conv3d_bn(branch_1, b1b, (3, 3, 3), name=f"Conv3d_{block}_1b_3x3")
        branch_2 = conv3d_bn(x, b2a, (1, 1, 1), name=f"Conv3d_{block}_2a_1x1")
        branch_2 = conv3d_bn(branch_2, b2b, (3, 3, 3), name=f"Conv3d_{block}_2b_3x3")
        branch_3 = pool(x, (3, 3, 3), (1, 1, 1), f"MaxPool2d_{block}_3a_3x3")
        branch_3 = conv3d_bn(branch_3, b3, (1, 1, 1), name=f"Conv3d_{block}_3b_1x1")
        x = L.concatenate([branch_0, branch_1, branch_2, branch_3], axis=4, name=f"Mixed_{block}")
    x = L.AveragePooling3D((2, 7, 7), strides=(1, 1, 1), padding="valid", name="global_avg_pool")(x)
    x = L.Dropout(0.0)(x)
    x = conv3d_bn(x, classes, (1, 1, 1), use_bias=True, use_activation_fn=False, use_bn=False, name="Conv3d_6a_1x1")
    x = L.Reshape((int(x.shape[1]), classes))(x)
    x = L.GlobalAveragePooling1D(name="mean")(x)  # the port's Lambda(K.mean(x, axis=1)), without a lambda
    return keras.Model(inputs, x, name="i3d_inception")
