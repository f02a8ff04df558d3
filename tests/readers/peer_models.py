"""The two common PyTorch I3D ports' module trees, rebuilt from their public source so their
``state_dict()`` gives the exact keys, shapes and dtypes (BatchNorm gamma and ``num_batches_tracked``
included) without a copy of their code:

- piergiaj/pytorch-i3d ``pytorch_i3d.py``: ``InceptionI3d`` with its forward (TF 'SAME' padding computed
  per input, BatchNorm eps 1e-3), so a test can run the port itself on weights we wrote;
- hassony2/kinetics_i3d_pytorch ``src/i3dpt.py``: ``I3D``'s parameterised modules, for the key layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Inception blocks: name, input channels, [b0, b1a, b1b, b2a, b2b, b3b] output channels (both ports).
MIXED = (
    ("3b", 192, (64, 96, 128, 16, 32, 32)),
    ("3c", 256, (128, 128, 192, 32, 96, 64)),
    ("4b", 480, (192, 96, 208, 16, 48, 64)),
    ("4c", 512, (160, 112, 224, 24, 64, 64)),
    ("4d", 512, (128, 128, 256, 24, 64, 64)),
    ("4e", 512, (112, 144, 288, 32, 64, 64)),
    ("4f", 528, (256, 160, 320, 32, 128, 128)),
    ("5b", 832, (256, 160, 320, 32, 128, 128)),
    ("5c", 832, (384, 192, 384, 48, 128, 128)),
)


def _same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> torch.Tensor:
    """piergiaj's compute_pad: TF 'SAME' for this input size, the extra element after."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class MaxPool3dSamePadding(nn.MaxPool3d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_same_pad(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1, 1), stride=(1, 1, 1), relu=True, use_bn=True, use_bias=False):
        super().__init__()
        self.kernel, self.stride, self.relu, self.use_bn = tuple(kernel), tuple(stride), relu, use_bn
        self.conv3d = nn.Conv3d(cin, cout, kernel, stride, padding=0, bias=use_bias)
        if use_bn:
            self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        x = self.bn(x) if self.use_bn else x
        return F.relu(x) if self.relu else x


class InceptionModule(nn.Module):
    def __init__(self, cin: int, out: tuple[int, ...]) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, out[0])
        self.b1a = Unit3D(cin, out[1])
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(cin, out[3])
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=0)
        self.b3b = Unit3D(cin, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class PiergiajI3D(nn.Module):
    """``InceptionI3d``: ``logits`` registered first (as in its __init__), then the end points by TF name."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(1024, num_classes, relu=False, use_bn=False, use_bias=True)
        points: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))),
            ("MaxPool3d_2a_3x3", MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)),
            ("Conv3d_2b_1x1", Unit3D(64, 64)),
            ("Conv3d_2c_3x3", Unit3D(64, 192, (3, 3, 3))),
            ("MaxPool3d_3a_3x3", MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=0)),
        ]
        for block, cin, out in MIXED:
            if block == "4b":
                points.append(("MaxPool3d_4a_3x3", MaxPool3dSamePadding(kernel_size=(3, 3, 3), stride=(2, 2, 2))))
            if block == "5b":
                points.append(("MaxPool3d_5a_2x2", MaxPool3dSamePadding(kernel_size=(2, 2, 2), stride=(2, 2, 2))))
            points.append((f"Mixed_{block}", InceptionModule(cin, out)))
        for name, module in points:
            self.add_module(name, module)
        self.points = [name for name, _ in points]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-frame logits (B, classes, T'), as the port returns them."""
        for name in self.points:
            x = self._modules[name](x)
        return self.logits(self.dropout(self.avg_pool(x))).squeeze(3).squeeze(3)


class Unit3Dpy(nn.Module):
    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), use_bias=False, use_bn=True) -> None:
        super().__init__()
        self.conv3d = nn.Conv3d(cin, cout, kernel, bias=use_bias)
        if use_bn:
            self.batch3d = nn.BatchNorm3d(cout, eps=1e-3)


class Mixed(nn.Module):
    def __init__(self, cin: int, out: tuple[int, ...]) -> None:
        super().__init__()
        self.branch_0 = Unit3Dpy(cin, out[0])
        self.branch_1 = nn.Sequential(Unit3Dpy(cin, out[1]), Unit3Dpy(out[1], out[2], (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit3Dpy(cin, out[3]), Unit3Dpy(out[3], out[4], (3, 3, 3)))
        self.branch_3 = nn.Sequential(nn.MaxPool3d((3, 3, 3), (1, 1, 1)), Unit3Dpy(cin, out[5]))


class Hassony2I3D(nn.Module):
    """``I3D``'s module tree in its attribute order (pools carry no state)."""

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.conv3d_1a_7x7 = Unit3Dpy(in_channels, 64, (7, 7, 7))
        self.conv3d_2b_1x1 = Unit3Dpy(64, 64)
        self.conv3d_2c_3x3 = Unit3Dpy(64, 192, (3, 3, 3))
        for block, cin, out in MIXED:
            self.add_module(f"mixed_{block}", Mixed(cin, out))
        self.conv3d_0c_1x1 = Unit3Dpy(1024, num_classes, use_bias=True, use_bn=False)


def randomize(model: nn.Module, seed: int = 0, counter: int = 0) -> dict[str, torch.Tensor]:
    """Plausible random weights in the model's own state_dict (BatchNorm gamma 1, as TF-born weights have)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            value = torch.tensor(counter)
        elif name.endswith(("bn.weight", "batch3d.weight")):
            value = torch.ones_like(tensor)
        elif name.endswith("running_var"):
            value = torch.rand(tensor.shape, generator=generator) * 1.5 + 0.5
        elif tensor.dim() == 5:
            value = torch.randn(tensor.shape, generator=generator) * (2.0 / tensor[0].numel()) ** 0.5
        else:
            value = torch.randn(tensor.shape, generator=generator) * 0.1
        state[name] = value.to(tensor.dtype)
    model.load_state_dict(state)
    return model.state_dict()
