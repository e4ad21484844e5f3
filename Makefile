# fusegen's developer commands. Every target creates and reuses a virtual environment in
# .venv, installs what it needs and builds the package: no manual step before them.
#
#   make test        build, then run the test suite
#   make demo        build, then run the demo (writes demo-output/)
#   make bench       build, then run the benchmarks and print ratio tables
#   make install     build and install fusegen into .venv
#   make cuda-check  compile and link the CUDA kernels against a CUDA build of torch (no GPU
#                    needed), then run the test suite on that build
#   make gpu-check   on a machine with a GPU: build for it, run the CUDA tests, compute-sanitizer
#                    and the CUDA benchmarks; one report in gpu-check/report.md (tools/gpu_check.py).
#                    Uses GPU_PYTHON (default python3), whose torch must have CUDA.
#
# Override the torch requirement with e.g. `make test TORCH_SPEC="torch>=2.4"`.

PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
TORCH_SPEC  ?= torch==2.13.0
BUILD_DEPS  := numpy pybind11 "scikit-build-core>=0.10" ninja "cmake>=3.26"
TEST_DEPS   := pytest hypothesis pytest-benchmark pillow tqdm scikit-learn matplotlib bm3d
BENCH_DEPS  := opencv-python-headless scikit-image
PYTEST_ARGS ?=

# CUDA compile check: a separate environment with a CUDA build of torch.
CUDA_VENV         ?= .venv-cuda
CUDA_TORCH_SPEC   ?= torch==2.14.1
CUDA_ARCH_LIST    ?= 8.0;9.0+PTX
NVCC              ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)

.PHONY: test demo bench install cuda-check gpu-check clean

$(VENV)/.deps: Makefile
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "$(TORCH_SPEC)" $(BUILD_DEPS) $(TEST_DEPS) $(BENCH_DEPS)
	touch $@

install: $(VENV)/.deps
	$(PY) -m pip install --quiet --no-build-isolation --no-deps .

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	$(PY) -m fusegen demo --out demo-output

bench: install
	$(PY) -m fusegen bench
	$(PY) -m pytest benchmarks -q -m "not slow"

$(CUDA_VENV)/.deps: Makefile
	test -x $(CUDA_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(CUDA_VENV)
	$(CUDA_VENV)/bin/python -m pip install --quiet "$(CUDA_TORCH_SPEC)" $(BUILD_DEPS) $(TEST_DEPS) scikit-image
	touch $@

cuda-check: $(CUDA_VENV)/.deps
	test -x "$(NVCC)" || { echo "cuda-check: nvcc not found (set NVCC=/path/to/nvcc)"; exit 1; }
	CUDACXX="$(NVCC)" FUSEGEN_CUDA=on TORCH_CUDA_ARCH_LIST="$(CUDA_ARCH_LIST)" \
	  $(CUDA_VENV)/bin/python -m pip install --quiet --no-build-isolation --no-deps \
	  --config-settings=build-dir=build/cuda-check .
	cd tests && ../$(CUDA_VENV)/bin/python -c "import fusegen; i = fusegen.build_info(); \
	  assert i['cuda'], i; print('cuda-check: CUDA kernels compiled and linked for', i['cuda_archs'])"
	# The CUDA build must also serve CPU tensors: run the suite on it (GPU tests skip here).
	$(CUDA_VENV)/bin/python -m pytest -q -x $(PYTEST_ARGS)

GPU_PYTHON ?= python3

gpu-check:
	$(GPU_PYTHON) tools/gpu_check.py --python $(GPU_PYTHON) --out gpu-check

clean:
	rm -rf build dist demo-output .benchmarks gpu-check
