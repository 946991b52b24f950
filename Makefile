# Two targets matter: `make run` (the service with demo data) and `make test` (the whole suite).
# Both create the virtual environment in .venv and install the project on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fund dev

# The browser tests (tests/browser) drive Debian's Chromium (with its French translations, for French date fields):
# installed here when missing and when we can (root with apt-get, as in CI). Without it they fail in CI (CI=true) and
# are skipped elsewhere, with the reason.
test: $(STAMP)
	@if ! command -v chromium >/dev/null 2>&1 && [ -z "$$FUND_CHROMIUM" ] && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium for the browser tests (apt-get install chromium chromium-l10n)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-l10n >/dev/null; } \
		|| echo "Chromium could not be installed: the browser tests will say so"; \
	fi
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy fund workers

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
