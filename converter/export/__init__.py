"""Deployable exports of I3D (TorchScript, ONNX, torch.export) and the FVD detector drop-in."""

from converter.export.formats import FORMATS, export_model, load

__all__ = ["FORMATS", "export_model", "load"]
