# The two commands a newcomer needs: `make demo` (the devnet story) and `make test` (everything).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup demo test test-unit test-contracts test-integration test-e2e lint

setup: $(STAMP) node_modules/.installed

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q torch==2.13.0
	.venv/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch node_modules/.installed

demo: setup
	.venv/bin/agora devnet demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	node_modules/.bin/forge test
	.venv/bin/pytest -q

test-unit: setup
	.venv/bin/pytest -q tests/unit

test-contracts: setup
	node_modules/.bin/forge test

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
