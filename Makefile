# mmpanoptic: `make demo` and `make test` are all a new user needs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
MODEL  ?= upsnet_r18_fpn_1xb4-800i_synthetic
DATA   ?= data/synthetic_panoptic
WORK   ?= work_dirs/demo/$(MODEL)
ITERS  ?=
PYTEST_ARGS ?=

.PHONY: install data demo test clean

install:
	@bash tools/misc/install_env.sh

data: install
	$(PY) tools/misc/make_synthetic_panoptic.py $(DATA) --train 200 --val 50 --size 128 128 --seed 0

# Train MODEL on the synthetic data (CPU; ITERS iterations, default 500 of
# the config's 800), evaluate PQ, draw val predictions.
demo: install
	@MODEL=$(MODEL) DATA=$(DATA) WORK=$(WORK) PY=$(PY) ITERS=$(ITERS) \
		bash tools/misc/run_demo.sh

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf work_dirs $(DATA) .pytest_cache
