"""Inflate 2D ImageNet networks into 3D video networks (I3D's recipe), weights included.

``layers`` holds the generic machinery (any module built from Conv2d, BatchNorm2d, pooling and
Linear layers); ``resnet`` and ``densenet`` hold torchvision-compatible 2D networks and their 3D
builders, registered as ``resnet3d`` and ``densenet3d`` for ``converter.load_model``. ``inception``
turns a 2D Inception-v1 (TF-slim or torchvision) into our I3D through the tables in ``converter/mappings/inflate``.
"""

from converter.inflate.layers import INITS, Time, inflate, inflate_, inflate_kernel, transfer_weights

__all__ = ["INITS", "Time", "inflate", "inflate_", "inflate_kernel", "transfer_weights"]
