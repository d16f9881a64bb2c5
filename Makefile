# The two commands a newcomer needs: `make demo` (the devnet story) and `make test` (everything).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup browser demo test test-unit test-contracts test-integration test-e2e lint

setup: $(STAMP) node_modules/.installed console/node_modules/.installed browser

$(STAMP): pyproject.toml verde/repops/csrc/compiled.c
	test -x $(PY) || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q torch==2.13.0
	.venv/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch node_modules/.installed

# The web console's toolchain (Vite, TypeScript, uPlot): its build is checked in (coordinator/console_dist);
# this lets `npm run build` rebuild it and a test check that the checked-in build is current.
console/node_modules/.installed: console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --silent
	touch console/node_modules/.installed

# Debian's Chromium drives the console's browser tests (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "no /usr/bin/chromium and no apt as root: install Debian's chromium for tests/e2e/test_console.py"

demo: setup
	.venv/bin/agora devnet demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
	node_modules/.bin/forge test
	.venv/bin/pytest -q -n 2 --dist loadfile

test-unit: setup
	.venv/bin/pytest -q tests/unit

test-contracts: setup
	node_modules/.bin/forge test

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy
