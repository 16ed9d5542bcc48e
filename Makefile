# Every target sets up what it needs: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo up down status test test-unit venv browser clean

$(VENV)/.ready: setup.cfg pyproject.toml
	@echo "[devstack] creating the Python environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[test]'
	touch $@

venv: $(VENV)/.ready

# Debian's Chromium for the page tests (no browser download: Playwright drives this one).
browser:
	@command -v chromium >/dev/null || { echo "[devstack] installing chromium (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: venv
	$(PY) -m devstack.stack demo

up: venv
	$(PY) -m devstack.stack up

down: venv
	$(PY) -m devstack.stack down

status: venv
	$(PY) -m devstack.stack status

test-unit: venv
	$(PY) -m pytest tests/unit tests/hub -q $(PYTEST_ARGS)

# All tiers. The stack fixtures start the stack (and stop it again if they started it);
# a part that cannot start fails its tests with the tail of its log.
test: venv browser
	$(PY) -m devstack.stack prepare
	$(PY) -m pytest tests -ra $(PYTEST_ARGS)

clean: down
	rm -rf .devstack
