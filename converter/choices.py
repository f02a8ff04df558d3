"""The names the command line offers (output formats, export targets, problem kinds, flow methods), kept
free of numpy so that ``convert`` can start hashing its source while numpy loads."""

from __future__ import annotations

FORMATS = ("safetensors", "pt")  # our weights file (converter.writers)
TARGETS = ("deepmind", "tfhub", "piergiaj", "hassony2", "keras")  # other layouts (converter.exporters)
PROBLEM_KINDS = ("unmatched", "missing", "mismatched")  # what a plan reports and --allow relaxes
FLOW_METHODS = ("tvl1", "tvl1-torch", "dis", "farneback")  # optical flow (converter.video.flow)
RECIPE_FLOW_METHODS = ("tvl1", "tvl1-torch")  # TV-L1 as in the I3D recipe: OpenCV's, and ours in PyTorch
