# Each target does all of its own set-up from a fresh machine with only python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= config.example.yaml

.PHONY: run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lint]'
	touch $@

run: $(VENV)/.installed
	mkdir -p var && touch var/demo.log
	$(VENV)/bin/alerter run -c $(CONFIG)

# As root on Debian, first the system packages the integration tests use (quick when present);
# elsewhere the tests that need them are skipped, with the reason listed at the end of the run.
test: $(VENV)/.installed
	@if [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then sh tests/system-deps.sh; fi
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check alerter collectors rules tests bench
	$(VENV)/bin/ruff format --check alerter collectors rules tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
