# The commands a person types. `make test` and `make dev` set themselves up:
# virtual environments under .venv/ and .tools/, from the pinned files in requirements/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON313 := $(shell scripts/find-python313)
UV_VERSION := 0.13.8
UV := .tools/uv/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
SAM := .tools/sam/bin/sam
CHECKOV := .tools/checkov/bin/checkov
PORT ?= 3001
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: lock help setup test lint typecheck template-check sam-build pytest unit integration e2e dev token clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/$$(PORT)/$(PORT)/g' \
	  | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools/uv
	.tools/uv/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.stamp: requirements/dev.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) $(VENV)
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --quiet requirements/dev.txt
	touch $@

.tools/sam/.stamp: requirements/sam.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) .tools/sam
	VIRTUAL_ENV=.tools/sam $(UV) pip sync --quiet requirements/sam.txt
	touch $@

.tools/checkov/.stamp: requirements/checkov.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) .tools/checkov
	VIRTUAL_ENV=.tools/checkov $(UV) pip sync --quiet requirements/checkov.txt
	touch $@

setup: $(VENV)/.stamp .tools/sam/.stamp .tools/checkov/.stamp ## install every pinned tool (done by the other targets when needed)

lint: $(VENV)/.stamp ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.stamp ## mypy --strict on the layer and the functions
	$(VENV)/bin/mypy

REHEARSAL := .aws-sam/rehearsal
template-check: $(VENV)/.stamp .tools/sam/.stamp .tools/checkov/.stamp ## cfn-lint and checkov on template.yaml and on the SAM translator's output of it (each samconfig env, ...)
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV) -f template.yaml --framework cloudformation --skip-download --quiet --compact
	$(PY) -m tests.deploy.sam $(REHEARSAL)
	$(VENV)/bin/cfn-lint $(REHEARSAL)/*.json
	$(CHECKOV) -d $(REHEARSAL) --framework cloudformation --skip-download --quiet --compact

sam-build: .tools/sam/.stamp ## sam build of the whole application (no Docker, no AWS account)
	PATH="$(dir $(PYTHON313)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM) build --build-dir .aws-sam/build --cached --parallel

pytest: $(VENV)/.stamp .tools/sam/.stamp ## the Python test suite with coverage (>= 90%, enforced; tests/deploy runs .tools/sam's SAM translator)
	$(PY) -m pytest

test: lint typecheck template-check sam-build pytest js-test browser-test ## everything CI runs

.PHONY: js-test browser-test
js-test: $(VENV)/.stamp ## the JS packages (clients/js, clients/server): npm ci, build, tests (node --test), a short soak, the packed tarballs installed and next build of examples/nextjs
	clients/run-tests.sh

browser-test: $(VENV)/.stamp ## the demo page in headless Chromium against the local gateway (installs Debian's chromium if missing)
	clients/browser-tests/run.sh

PACKAGES := clients/packages
.PHONY: packages
packages: ## build and npm pack @switchboard/client and @switchboard/server into clients/packages/ (then, in your app: npm install <path>/clients/packages/*.tgz)
	@command -v npm >/dev/null || { echo "make packages: needs Node.js 20 and npm" >&2; exit 1; }
	mkdir -p $(PACKAGES)
	for package in js server; do \
	  (cd clients/$$package && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build \
	    && npm pack --silent --pack-destination ../packages) || exit 1; \
	done
	@ls -1 $(PACKAGES)/*.tgz

# The demo page that make dev serves at / loads the built browser client.
CLIENT_DIST := clients/js/dist/index.js
$(CLIENT_DIST): clients/js/package.json clients/js/package-lock.json clients/js/tsconfig.json $(wildcard clients/js/src/*.ts)
	@if command -v npm >/dev/null 2>&1; then \
		cd clients/js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else \
		echo "make dev: npm not found: the WebSocket API runs, the demo page needs Node.js 20 to build the client"; \
	fi

dev: $(VENV)/.stamp $(CLIENT_DIST) ## the local gateway: ws://localhost:$(PORT), the demo page at http://localhost:$(PORT)/ (PORT=... changes it)
	PORT=$(PORT) $(PY) -m local_gateway

token: $(VENV)/.stamp ## a development token: make token USER=alice [CHANNELS='room:* user:alice'] [SCOPE=publish]
	@$(PY) -m local_gateway.token --user "$(or $(USER_ID),$(USER))" $(if $(CHANNELS),--channels '$(CHANNELS)') $(if $(SCOPE),--scope '$(SCOPE)')

clean: ## remove build output and environments
	rm -rf .aws-sam .venv .tools .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov

lock: | $(UV) ## re-pin every requirements file from its .in file
	$(UV) pip compile -q --python-version 3.13 --python-platform aarch64-manylinux2014 layers/switchboard/requirements.in -o layers/switchboard/requirements.txt
	$(UV) pip compile -q --python-version 3.13 --python-platform aarch64-manylinux2014 layers/crypto/requirements.in -o layers/crypto/requirements.txt
	$(UV) pip compile -q --python $(PYTHON313) --python-version 3.13 requirements/dev.in -o requirements/dev.txt
	$(UV) pip compile -q --python $(PYTHON313) --python-version 3.13 requirements/sam.in -o requirements/sam.txt
	$(UV) pip compile -q --python $(PYTHON313) --python-version 3.13 requirements/checkov.in -o requirements/checkov.txt

# ---------------------------------------------------------------- local gateway: conformance and benchmark
# Autobahn|Testsuite runs under Python 2.7 (pyenv's 2.7.18), in its own virtualenv; not part of make test.
.PHONY: conformance bench-gateway
PYTHON27 = $(shell pyenv prefix 2.7.18 2>/dev/null)/bin/python
AUTOBAHN := .tools/autobahn

.tools/virtualenv/.stamp: | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON313) .tools/virtualenv
	VIRTUAL_ENV=.tools/virtualenv $(UV) pip install --quiet virtualenv==20.21.1
	touch $@

$(AUTOBAHN)/.stamp: scripts/conformance/requirements-py27.txt .tools/virtualenv/.stamp
	@test -x "$(PYTHON27)" || { echo "Python 2.7.18 not found: pyenv install 2.7.18" >&2; exit 1; }
	.tools/virtualenv/bin/virtualenv --quiet --python "$(PYTHON27)" $(AUTOBAHN)
	$(AUTOBAHN)/bin/pip install --quiet --disable-pip-version-check -r scripts/conformance/requirements-py27.txt
	touch $@

conformance: $(VENV)/.stamp $(AUTOBAHN)/.stamp ## Autobahn cases 1-7, 10 vs the local gateway; writes docs/conformance.md
	$(PY) scripts/conformance/run.py --wstest $(AUTOBAHN)/bin/wstest

bench-gateway: $(VENV)/.stamp ## 1,000 connections on the local gateway, one publish to all; prints the numbers (ARGS=--threshold 1001 for inline delivery)
	$(PY) -m bench.gateway_fanout $(ARGS)

.PHONY: fuzz
fuzz: $(VENV)/.stamp ## hostile input through the local gateway: 10,000 frames, bodies, tokens; then checks it works and logged no traceback (ARGS=--frames N ...)
	$(PY) -m fuzz.run $(ARGS)

.PHONY: soak
soak: $(VENV)/.stamp $(CLIENT_DIST) ## faults and load: the local gateway with faults injected, hundreds of real browser clients; one summary line last, non-zero on any loss or duplicate (ARGS='--duration 300 --subscribers 300 ...'; --help lists them)
	$(PY) -m soak $(ARGS)

e2e: $(VENV)/.stamp ## the local gateway's end-to-end tests alone (no coverage)
	$(PY) -m pytest -m e2e --no-cov tests/e2e

# B3's Lambda-like runtime: a bare Python 3.13 and each layer's pinned packages in its own
# directory, as sam build would install them (for this machine's platform).
B3_RUNTIME := .tools/b3-runtime
$(B3_RUNTIME)/.stamp: layers/switchboard/requirements.txt layers/crypto/requirements.txt | $(UV)
	rm -rf $(B3_RUNTIME)
	$(UV) venv -q --python $(PYTHON313) $(B3_RUNTIME)/venv
	for layer in switchboard crypto; do \
	  $(UV) pip install -q --no-deps --python $(B3_RUNTIME)/venv/bin/python \
	    --target $(B3_RUNTIME)/$$layer -r layers/$$layer/requirements.txt || exit 1; \
	done
	touch $@

.PHONY: bench
bench: $(VENV)/.stamp $(B3_RUNTIME)/.stamp ## B1-B5: engine vs boto3 vs the floor, cold starts, DynamoDB calls, gateway fan-out; writes bench/results.json and docs/benchmarks.md (ARGS=--quick for a short run)
	$(PY) -m bench.run $(ARGS)

# ---------------------------------------------------------------- the dashboard's picture
.PHONY: dashboard-picture
dashboard-picture: $(VENV)/.stamp ## draw docs/dashboard.svg: the template's CloudWatch dashboard with sample data (no AWS)
	$(PY) -m scripts.dashboard_picture

# ---------------------------------------------------------------- cost per message (issue 17)
.PHONY: cost
cost: $(VENV)/.stamp ## monthly bills of three workloads from B4's counted calls and bench/prices.json; writes docs/cost.md and docs/cost.svg
	$(PY) -m bench.cost $(ARGS)
