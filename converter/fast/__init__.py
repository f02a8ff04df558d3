"""The fast CPU inference path: I3D's verified ONNX export run by OpenVINO, cached per machine.

Eager PyTorch stays the reference (``--backend eager``). On CPU, in fp32, OpenVINO runs the file
``converter.export`` writes and checks, with dynamic batch, time, height and width; the file is made
once per weights and endpoint under ``<cache_home()>/fast/`` (``converter.user_cache``) and checked
against the eager model before first use. Measured speeds and rounding: docs/speed.md.
"""

from converter.fast.model import BACKENDS, FastI3D, accelerate, default_backend, fast_available

__all__ = ["BACKENDS", "FastI3D", "accelerate", "default_backend", "fast_available"]
