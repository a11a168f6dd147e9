# The two commands of the README: `make demo` and `make test`. Each makes its own .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "kernelwise needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

# Train the default CNN on the bundled digits, then classify a few test digits it saved as PNG files.
demo: $(VENV)/.installed
	$(BIN)/kernelwise train --out runs/demo --force  # a fresh run each time
	$(BIN)/kernelwise predict runs/demo runs/demo/samples/*.png

test: $(VENV)/.installed-test
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -rs -n 2  # -rs: each skipped test with its reason

# ruff on the Python, node --check on the JavaScript assets (when node is installed), then lines of code per module.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools
	@if command -v node >/dev/null 2>&1; then \
		for f in $$(find src -name '*.js' | sort); do node --check "$$f" || exit 1; echo "node --check $$f: ok"; done; \
	else \
		echo "lint: node not found on PATH, JavaScript assets not checked (install Node.js to check them)"; \
	fi
	$(BIN)/python tools/linecount.py

clean:
	rm -rf $(VENV) .pytest_cache
