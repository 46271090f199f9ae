# Two commands for a newcomer: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: run test bootstrap proto bench clean

$(STAMP): pyproject.toml contracts/package-lock.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch is pinned to the CPU build that pip finds on this machine (no CUDA download).
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@# solcjs, OpenZeppelin and anvil for the contracts (pinned in contracts/package-lock.json).
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

bootstrap: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/multiverse up $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

proto: $(STAMP)
	$(PY) scripts/gen_proto.py

bench: $(STAMP)
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
