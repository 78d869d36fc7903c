# Document Portal: `make run` serves the portal, `make test` runs the suite. Both set themselves up.
# `make run PORT=8080 HOST=0.0.0.0` serves on another port or on every interface.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run test lint test-rgw rgw mutate install install-dev migrate bench clean readme

run: install migrate
	$(FLASK) storage init
	$(VENV)/bin/gunicorn --config gunicorn.conf.py --no-control-socket --workers $(WORKERS) --threads 4 \
		--timeout 120 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

test: install-dev lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The style every change keeps (pyproject.toml's [tool.ruff]): lint rules and the formatter's layout.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Only the runs against a throwaway Ceph RADOS Gateway (apt-get install radosgw ceph-mon ceph-osd).
test-rgw: install-dev
	REQUIRE_RGW=1 $(PY) -m pytest -m rgw $(PYTEST_ARGS)

# One RGW to try things by hand: prints its endpoint and keys, stops on Ctrl-C.
rgw: install-dev
	$(PY) -m tests.support.rgw

# Mutation testing of the modules where a silent bug loses or leaks data (docs/testing.md):
# `make mutate` runs them all, `make mutate MODULES="storage_checks storage_streams"` a few.
MODULES ?=
mutate: install-dev
	$(PY) -m tests.support.mutate $(MODULES)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

migrate: install
	$(FLASK) db upgrade

bench: install-dev
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build/mutate

readme: install
	$(PY) -m portal.settings_doc
