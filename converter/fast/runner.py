"""OpenVINO running the fast path's ONNX file on CPU in f32: clip by clip, one stream per thread, and a
model compiled for each input size that comes back.

Measured on a 2-core Xeon (AVX-512), real weights, 16x224² clips (benchmarks/PROFILE.md):

- **Clip by clip.** A batch of 4 clips in one request took 1.17x as long as the 4 clips one after the
  other (1 thread): one clip's activations stay in cache.
- **One stream per thread.** A batch with several threads runs one clip per stream of one thread
  (OpenVINO's throughput mode): no thread waits for another at each layer's barrier, which on a busy
  machine costs more than a second thread gains. One clip runs on all threads (latency mode).
- **A size seen again gets a static model.** The file's shapes are dynamic; OpenVINO compiled for one
  size (0.26 s) drops the shape arithmetic and two of five pads and ran 1.085x as fast. The first call
  at a size runs the dynamic model, so a single clip never pays a second compile.
- **Compiled once per machine.** The dynamic models go through OpenVINO's model cache (``CACHE_DIR``,
  ``openvino/`` beside the file, about 50 MB a model): a later process loads one in 0.13 s instead of
  compiling it in 0.55 s. Static models (0.26 s) are not written to disk: sizes vary, their number would not.
- **Channels-last clips go in as they lie.** A (B, C, T, H, W) view of (B, T, H, W, C) memory (FVD's
  resized frames) runs a model whose input is NDHWC (OpenVINO's pre-processing step), which is the layout
  the first convolution wants: no copy to NCDHW and back, bit-identical output, 1.3% less time for FVD
  (1 thread, 8 interleaved rounds).

A clip's numbers agree within 1e-6 whatever the batch, mode or compile (bit for bit on the Xeon above;
tests/fast).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

STATIC_SIZES = 4  # compiled sizes kept (each holds its own copy of the weights, ~50 MB)


class OpenVINORunner:
    """``runner(x)``: the file at ``path`` applied to a float32 (B, C, T, H, W) tensor, contiguous or a
    channels-last view, on ``threads`` threads (default ``torch.get_num_threads()``), not pinned to cores
    (a shared machine's other processes contend for them); ``cache``: keep its compiled dynamic models
    in OpenVINO's cache beside the file."""

    def __init__(self, path: Path, threads: int | None = None, *, cache: bool = True) -> None:
        import openvino as ov

        self.threads = threads or torch.get_num_threads()
        self._core = ov.Core()
        self._path = str(path)
        self._cache = str(Path(path).parent / "openvino") if cache else None  # dynamic models: 0.13 s, not 0.55
        self._config = {
            "INFERENCE_PRECISION_HINT": "f32",  # not bf16, OpenVINO's default on CPUs with AMX
            "INFERENCE_NUM_THREADS": self.threads,
            "ENABLE_CPU_PINNING": False,
        }
        self._dynamic: dict[tuple[str, str], object] = {}
        self._static: OrderedDict[tuple, object] = OrderedDict()
        self._seen: set[tuple] = set()
        self._dynamic_only: set[tuple] = set()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().cpu()
        layout = "NDHWC" if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d) else "NCDHW"
        if layout == "NDHWC":
            x = x.permute(0, 2, 3, 4, 1)  # the memory as it lies: no copy
        array = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        mode = "throughput" if self.threads > 1 and len(array) > 1 else "latency"
        runner = self._runner((1, *array.shape[1:]), mode, layout)
        if mode == "latency":
            rows = [np.array(runner.infer({0: array[i : i + 1]})[0], copy=True) for i in range(len(array))]
        else:
            rows = [None] * len(array)

            def keep(done, index: int) -> None:
                rows[index] = np.array(done.get_output_tensor(0).data, copy=True)

            runner.set_callback(keep)
            for index in range(len(array)):
                runner.start_async({0: array[index : index + 1]}, index)
            runner.wait_all()
        return torch.from_numpy(np.concatenate(rows))

    def _runner(self, shape: tuple, mode: str, layout: str):
        """An infer request (latency) or a queue of one-thread streams (throughput) for clips of ``shape``
        laid out as ``layout``."""
        key = (shape, mode, layout)
        if key in self._static:
            self._static.move_to_end(key)
            return self._static[key]
        if key in self._seen and key not in self._dynamic_only:
            model = self._read(layout)
            try:
                model.reshape({0: list(shape)})
            except RuntimeError:  # a size the dynamic model takes but a static one refuses: stay dynamic
                self._dynamic_only.add(key)
            else:
                self._static[key] = self._compile(model, mode)
                if len(self._static) > STATIC_SIZES:
                    self._static.popitem(last=False)
                return self._static[key]
        self._seen.add(key)
        if (mode, layout) not in self._dynamic:
            model = self._path if layout == "NCDHW" else self._read(layout)  # a path: OpenVINO hashes it cheaply
            self._dynamic[mode, layout] = self._compile(model, mode, cache=self._cache is not None)
        return self._dynamic[mode, layout]

    def _read(self, layout: str):
        """The file's model, its input taken as ``layout`` (NDHWC: a transpose OpenVINO folds into the
        first convolution's own reorder)."""
        import openvino as ov

        model = self._core.read_model(self._path)
        if layout == "NCDHW":
            return model
        steps = ov.preprocess.PrePostProcessor(model)
        steps.input().tensor().set_layout(ov.Layout(layout))
        steps.input().model().set_layout(ov.Layout("NCDHW"))
        return steps.build()

    def _compile(self, model, mode: str, cache: bool = False):
        """``model`` compiled for ``mode``; ``cache``: through OpenVINO's on-disk cache (``CACHE_DIR``)."""
        import openvino as ov

        config = {**self._config, "PERFORMANCE_HINT": "LATENCY"}
        if mode == "throughput":
            config = {**self._config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.threads}
        try:
            compiled = self._core.compile_model(model, "CPU", {**config, "CACHE_DIR": self._cache} if cache else config)
        except RuntimeError:  # e.g. a cache folder it cannot write: compile as if there were none
            if not cache:
                raise
            compiled = self._core.compile_model(model, "CPU", config)
        return compiled.create_infer_request() if mode == "latency" else ov.AsyncInferQueue(compiled, self.threads)
