"""A stand-in detector for tests of the plumbing (sampling, sharding): each frame's mean, instantly."""

from __future__ import annotations

import torch


class FrameMeans(torch.nn.Module):
    """(B, 3, T, H, W) → (B, T): each frame's mean after FVD's preprocessing (so a frame's value tells
    which source frame it was); ``num_classes`` is T."""

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.num_classes = frames
        self.scale = torch.nn.Parameter(torch.ones(()), requires_grad=False)  # gives the model a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 3, 4)) * self.scale
