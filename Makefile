# lpkit: `make run` serves the sample data set, `make test` runs the tests.

PYTHON ?= python3
VENV ?= .venv
FLASK = $(VENV)/bin/flask --app lpkit
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench install clean-reports

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/installed

run: install
	$(FLASK) init-db
	$(FLASK) sample-data --if-empty
	$(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/python bench/benchmark.py $(BENCH_ARGS)

clean-reports:
	rm -f reportcsvs/report-*.csv reportcsvs/report-*.csv.partial
