# Two commands for a fresh machine with Python 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench faults clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/syndicate --config config.example.toml run

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The page tests drive Debian's chromium package with Playwright; install it (and CJK fonts, so that the
# screenshots they keep are legible) when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	for b in cli ingest dedupe publish serve digest; do $(BIN)/python bench/$$b.py || exit 1; done

# The long crash test: kill -9 at 100 random points of fetch, publish and digest (about 20 minutes).
faults: $(STAMP)
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/hostile.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
