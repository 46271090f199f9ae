# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
ARGS ?=

.PHONY: run test bootstrap proto lock bench clean

$(STAMP): requirements.lock pyproject.toml contracts/package-lock.json web/package-lock.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Every dependency at the exact version and sha256 in requirements.lock (`make lock` regenerates it).
	$(PIP) --require-hashes --no-deps -r requirements.lock
	@# torch is pinned to the CPU build that pip finds on this machine (no CUDA download); not hashed, see scripts/lock.py.
	$(PIP) --no-deps torch==2.13.0
	$(PIP) --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@# solcjs, OpenZeppelin and anvil for the contracts (pinned in contracts/package-lock.json).
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	@# viem and esbuild for the browser wallet (pinned in web/package-lock.json; `node web/build.mjs` rebuilds the bundle).
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@# Debian's chromium for the browser tests (playwright drives it; no browser download).
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo apt-get update && sudo apt-get install -y chromium; \
	  else echo "chromium is missing: the browser tests skip without it; install it with: sudo apt-get install -y chromium"; fi; }
	@touch $(STAMP)

bootstrap: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/multiverse up $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

# Re-resolve pyproject.toml's dependencies to their newest allowed versions and write requirements.lock.
lock:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) scripts/lock.py

bench: $(STAMP)
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
