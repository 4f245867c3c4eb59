# Each target does all of its own set-up from a fresh machine with only python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CONFIG ?= config.example.yaml

.PHONY: run test lint bench clean install

# `make install [PREFIX=/usr/local] [DESTDIR=]`: alerter in its own virtualenv under VENVDIR
# (Debian's Python refuses pip outside one, PEP 668, and a venv keeps alerter's dependencies
# apart from apt's), its command linked to $(PREFIX)/bin/alerter where the unit runs it, the
# unit, /etc/alerter/config.yaml (only if there is none), docs, examples and shell completion.
PREFIX     ?= /usr/local
VENVDIR    ?= /opt/alerter
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/alerter
PIP_ARGS   ?=

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
	$(VENV)/bin/ruff check alerter collectors rules core tests bench
	$(VENV)/bin/ruff format --check alerter collectors rules core tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	for b in bench/*.py; do $(PY) $$b || exit 1; done

install:
	$(PYTHON) -m venv --clear $(DESTDIR)$(VENVDIR)
	$(DESTDIR)$(VENVDIR)/bin/python -m pip install -q $(PIP_ARGS) .
	@# staged (DESTDIR): the venv's scripts must name the python where it will run
	if [ -n "$(DESTDIR)" ]; then \
	  grep -rlI -- "$(DESTDIR)$(VENVDIR)" $(DESTDIR)$(VENVDIR)/bin | \
	    xargs -r sed -i "s|$(DESTDIR)$(VENVDIR)|$(VENVDIR)|g"; fi
	install -d $(DESTDIR)$(PREFIX)/bin
	ln -sfn $(VENVDIR)/bin/alerter $(DESTDIR)$(PREFIX)/bin/alerter
	install -d $(DESTDIR)$(UNITDIR)
	sed -e "s|/usr/local/bin/alerter|$(PREFIX)/bin/alerter|g" \
	    -e "s|/usr/local/share/doc/alerter|$(DOCDIR)|g" \
	    -e "s|/etc/alerter/|$(SYSCONFDIR)/alerter/|g" \
	    packaging/alerter.service > $(DESTDIR)$(UNITDIR)/alerter.service
	chmod 644 $(DESTDIR)$(UNITDIR)/alerter.service
	install -d -m 755 $(DESTDIR)$(SYSCONFDIR)/alerter
	[ -e $(DESTDIR)$(SYSCONFDIR)/alerter/config.yaml ] || \
	  install -m 640 packaging/config.yaml $(DESTDIR)$(SYSCONFDIR)/alerter/config.yaml
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 644 README.md CHANGELOG.md config.example.yaml $(DESTDIR)$(DOCDIR)/
	install -m 644 packaging/alerter-polkit.rules examples/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	$(DESTDIR)$(VENVDIR)/bin/python -m alerter completion bash \
	    > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/alerter
	$(DESTDIR)$(VENVDIR)/bin/python -m alerter completion zsh \
	    > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_alerter
	@echo "installed; next: systemctl daemon-reload && systemctl enable --now alerter"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
