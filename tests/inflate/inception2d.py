"""2D Inception-v1 references, written out on their own (not from ``i3d_spec`` or the mapping tables).

* ``slim_endpoints``: TF-slim's graph (tensorflow/models research/slim/nets/inception_v1.py) in raw
  TensorFlow ops under slim's variable names, with TF's own 'SAME' padding; ``slim_shapes`` lists its
  variables for generating a checkpoint.
* ``GoogLeNet``: torchvision's GoogLeNet (torchvision/models/googlenet.py) as a torch module with its
  parameter names, aux heads included; torchvision itself does not import here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Both files' Inception blocks: Branch_0 1x1; Branch_1 1x1 -> 3x3; Branch_2 1x1 -> 3x3; Branch_3 pool -> 1x1.
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
POOL_BEFORE = {"Mixed_4b": ("MaxPool_4a_3x3", 3), "Mixed_5b": ("MaxPool_5a_2x2", 2)}  # stride-2 pools
BN_STATS = ("beta", "moving_mean", "moving_variance")


def _branch_units(block: str) -> list[tuple[str, int]]:
    """(scope, kernel) of a block's convs; slim names Mixed_5b's second Branch_2 conv ``Conv2d_0a_3x3``."""
    second = "Conv2d_0a_3x3" if block == "Mixed_5b" else "Conv2d_0b_3x3"
    units = [("Branch_0/Conv2d_0a_1x1", 1), ("Branch_1/Conv2d_0a_1x1", 1), ("Branch_1/Conv2d_0b_3x3", 3)]
    units += [("Branch_2/Conv2d_0a_1x1", 1), (f"Branch_2/{second}", 3), ("Branch_3/Conv2d_0b_1x1", 1)]
    return [(f"{block}/{unit}", kernel) for unit, kernel in units]


def slim_shapes(num_classes: int = 1001) -> dict[str, tuple[int, ...]]:
    """Every variable of slim's InceptionV1 (scope included) with its shape; convs are HWIO."""
    shapes: dict[str, tuple[int, ...]] = {}

    def unit(scope: str, kernel: int, cin: int, cout: int) -> None:
        shapes[f"InceptionV1/{scope}/weights"] = (kernel, kernel, cin, cout)
        for stat in BN_STATS:
            shapes[f"InceptionV1/{scope}/BatchNorm/{stat}"] = (cout,)

    unit("Conv2d_1a_7x7", 7, 3, 64)
    unit("Conv2d_2b_1x1", 1, 64, 64)
    unit("Conv2d_2c_3x3", 3, 64, 192)
    cin = 192
    for block, (b0, b1a, b1b, b2a, b2b, b3) in MIXED.items():
        ins = (cin, cin, b1a, cin, b2a, cin)
        for (scope, kernel), c_in, c_out in zip(_branch_units(block), ins, (b0, b1a, b1b, b2a, b2b, b3), strict=True):
            unit(scope, kernel, c_in, c_out)
        cin = b0 + b1b + b2b + b3
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/weights"] = (1, 1, cin, num_classes)
    shapes["InceptionV1/Logits/Conv2d_0c_1x1/biases"] = (num_classes,)
    return shapes


def random_slim_variables(seed: int = 0, num_classes: int = 1001) -> dict[str, np.ndarray]:
    """He-initialised kernels and non-trivial BatchNorm offsets and statistics under slim's names."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in slim_shapes(num_classes).items():
        if name.endswith("weights"):
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:3])), shape)
        elif name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        out[name] = value.astype(np.float32)
    return out


def slim_endpoints(variables: Mapping[str, np.ndarray], images: np.ndarray, names: Iterable[str]) -> dict:
    """slim's endpoints (NHWC numpy; ``Logits`` is (B, classes)) for NHWC ``images`` in [-1, 1]."""
    import tensorflow as tf

    def var(name: str) -> tf.Tensor:
        return tf.constant(variables[f"InceptionV1/{name}"])

    def conv(net: tf.Tensor, scope: str, stride: int = 1) -> tf.Tensor:
        net = tf.nn.conv2d(net, var(f"{scope}/weights"), stride, "SAME")
        mean, variance, beta = (var(f"{scope}/BatchNorm/{s}") for s in ("moving_mean", "moving_variance", "beta"))
        return tf.nn.relu(tf.nn.batch_normalization(net, mean, variance, beta, None, 1e-3))

    def pool(net: tf.Tensor, kernel: int, stride: int) -> tf.Tensor:
        return tf.nn.max_pool2d(net, kernel, stride, "SAME")

    wanted, found = set(names), {}
    layers = [
        ("Conv2d_1a_7x7", lambda x: conv(x, "Conv2d_1a_7x7", 2)),
        ("MaxPool_2a_3x3", lambda x: pool(x, 3, 2)),
        ("Conv2d_2b_1x1", lambda x: conv(x, "Conv2d_2b_1x1")),
        ("Conv2d_2c_3x3", lambda x: conv(x, "Conv2d_2c_3x3")),
        ("MaxPool_3a_3x3", lambda x: pool(x, 3, 2)),
    ]
    for block in MIXED:
        if block in POOL_BEFORE:
            name, kernel = POOL_BEFORE[block]
            layers.append((name, lambda x, k=kernel: pool(x, k, 2)))
        layers.append((block, lambda x, b=block: _slim_mixed(x, b, conv, pool)))
    net = tf.constant(images)
    for name, layer in layers:
        net = layer(net)
        if name in wanted:
            found[name] = net.numpy()
    if "Logits" in wanted:
        net = tf.nn.avg_pool2d(net, 7, 1, "VALID")
        net = tf.nn.conv2d(net, var("Logits/Conv2d_0c_1x1/weights"), 1, "SAME") + var("Logits/Conv2d_0c_1x1/biases")
        found["Logits"] = tf.squeeze(net, [1, 2]).numpy()
    return found


def _slim_mixed(net, block: str, conv, pool):
    import tensorflow as tf

    (b0, _), (b1a, _), (b1b, _), (b2a, _), (b2b, _), (b3, _) = _branch_units(block)
    branches = [
        conv(net, b0),
        conv(conv(net, b1a), b1b),
        conv(conv(net, b2a), b2b),
        conv(pool(net, 3, 1), b3),
    ]
    return tf.concat(branches, axis=3)


class BasicConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool: int):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(cin, ch3x3red, kernel_size=1), BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)
        )
        self.branch3 = nn.Sequential(  # 3x3, not the paper's 5x5: torchvision's (and TF-slim's) known quirk
            BasicConv2d(cin, ch5x5red, kernel_size=1), BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pool, kernel_size=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """A training-only head: present in the published state_dict, unused in eval."""

    def __init__(self, cin: int, num_classes: int) -> None:
        super().__init__()
        self.conv = BasicConv2d(cin, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet without ``transform_input`` (input already in [-1, 1]), He-initialised."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.aux1 = InceptionAux(512, num_classes)
        self.aux2 = InceptionAux(528, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

    def endpoints(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's output by module name (``fc`` is the logits), in eval mode."""
        found = {}
        for name, module in self.named_children():
            if name in ("aux1", "aux2", "dropout"):
                continue
            x = module(torch.flatten(x, 1) if name == "fc" else x)
            found[name] = x
        return found
