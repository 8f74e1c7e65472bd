# bccrm developer commands. Each target bootstraps .venv from pyproject.toml on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= bccrm.example.toml
# Test processes for make test (pytest-xdist); 0 runs everything in this process.
TEST_WORKERS ?= auto

.PHONY: run test lint typecheck bench reliability clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bccrm needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bccrm --config $(CONFIG) db upgrade
	$(BIN)/bccrm --config $(CONFIG) serve

lint: $(STAMP)
	$(BIN)/ruff check gateway plugins admin_tui tests bench
	$(BIN)/ruff format --check gateway plugins admin_tui tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -W error -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# PostgreSQL for make bench's end-to-end run on PostgreSQL; unset: that run is skipped.
BENCH_DATABASE_URL ?= $(BCCRM_TEST_DATABASE_URL)

bench: $(STAMP)
	$(BIN)/python bench/smtp_accept.py
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/email_log.py
	$(BIN)/python bench/e2e.py
ifneq ($(strip $(BENCH_DATABASE_URL)),)
	$(BIN)/python bench/e2e.py --database-url '$(BENCH_DATABASE_URL)'
else
	@echo "bench: bench/e2e.py on PostgreSQL skipped: set BENCH_DATABASE_URL, e.g." \
		"postgresql+psycopg://postgres@127.0.0.1:5432/test"
endif

# The reliability suite's full profile: bigger counts, the 2-minute soak, more fuzzing; on
# PostgreSQL too when BCCRM_TEST_DATABASE_URL is set. Prints the table README quotes.
reliability: $(STAMP)
	BCCRM_RELIABILITY=full BCCRM_RELIABILITY_TABLE=$(VENV)/reliability.md \
		$(BIN)/python -m pytest -W error tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
