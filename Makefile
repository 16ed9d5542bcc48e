# Every target sets up what it needs: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The same plugin on the Zero to JupyterHub hub image's package set (the oldest allowed).
Z2JH_VENV := .venv-z2jh
Z2JH_PY := $(Z2JH_VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo up down status test test-unit test-z2jh lint venv venv-z2jh browser clean

$(VENV)/.ready: setup.cfg pyproject.toml
	@echo "[devstack] creating the Python environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[test]'
	touch $@

venv: $(VENV)/.ready

$(Z2JH_VENV)/.ready: setup.cfg pyproject.toml constraints/z2jh-hub-image.txt
	@echo "[devstack] creating the Zero to JupyterHub package set in $(Z2JH_VENV)"
	$(PYTHON) -m venv $(Z2JH_VENV)
	$(Z2JH_PY) -m pip install --quiet --upgrade pip
	$(Z2JH_PY) -m pip install --quiet --progress-bar off -c constraints/z2jh-hub-image.txt -e '.[test]'
	touch $@

venv-z2jh: $(Z2JH_VENV)/.ready

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

# The linter the project configures (pyproject.toml), over everything.
lint: venv
	$(PY) -m ruff check .

# The pure and hub tiers on the z2jh hub image's versions of JupyterHub, KubeSpawner and
# OAuthenticator (the stack tiers run once, on the newest).
test-z2jh: venv-z2jh
	$(Z2JH_PY) -m pytest tests/unit tests/hub -q $(PYTEST_ARGS)

# All tiers (scripts/test_tiers.sh: the unit and hub tiers of both package sets side by
# side, then the stack and browser tiers alone). The stack fixtures start the stack (and
# stop it again if they started it); a part that cannot start fails its tests with the
# tail of its log.
test: venv venv-z2jh browser
	$(PY) -m ruff check .
	$(PY) -m devstack.stack prepare
	scripts/test_tiers.sh $(PY) $(Z2JH_PY) $(PYTEST_ARGS)

clean: down
	rm -rf .devstack
