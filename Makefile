# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BLUEPRINT ?= blueprints/default.yaml
# Test processes run at once (pytest-xdist); 0 runs the suite in this one process.
TEST_WORKERS ?= 2

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@echo "autocoder is installed in $(VENV): 'source $(BIN)/activate' puts it on your PATH"
	$(BIN)/autocoder run $(BLUEPRINT)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check autocoder examples tests benchmarks
	$(BIN)/ruff format --check autocoder examples tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format autocoder examples tests benchmarks
	$(BIN)/ruff check --fix autocoder examples tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
