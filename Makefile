# The two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime's Python version, ONE setting for everything: lambda-python-version.txt
# (serverless.yml's runtime, the venv, the shipped bytecode, the real-runtime tests, the bench and
# the preflight all read it). The venv and every wheel and .pyc we ship must be this version.
# The pyenv shims fail without PYENV_VERSION, so resolve the interpreter by path.
LAMBDA_PYTHON := $(strip $(file < lambda-python-version.txt))
PYTHON ?= $(shell \
	for p in "$$(pyenv prefix $(LAMBDA_PYTHON) 2>/dev/null)/bin/python" \
	         "$$(command -v python$(LAMBDA_PYTHON) 2>/dev/null)"; do \
	  [ -x "$$p" ] && [ "$$("$$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$(LAMBDA_PYTHON)" ] \
	    && { echo "$$p"; break; }; \
	done)
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Two stamps: make run installs only requirements-run.txt (the runtime + what the local
# emulator needs); every other goal needs requirements-dev.txt, the whole toolchain (README:
# Two commands). The run install never touches the dev stamp, so make test after make run
# still installs the toolchain; the dev install touches both.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# checkov lives in its own venv: its pins (boto3, packaging) conflict with requirements-dev.txt.
CHECKOV_VENV := .cache/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Every requirements*.txt is hash-locked (compiled from its .in file by `make lock`): pip checks
# every file it installs against the lock's sha256, and refuses any package the lock lacks.
PIP_INSTALL := -m pip install --quiet --require-hashes
# make lock: uv (requirements-lock.txt) in its own venv, so a broken lock file cannot stop it.
LOCK_VENV := .cache/lock
LOCK_STAMP := $(LOCK_VENV)/.installed
# make lock UPGRADE=1: move every pin to the newest release the .in files allow.
UPGRADE ?=

.PHONY: help venv node_modules browser run reset package invoke-local bench check test fuzz lint \
	openapi clean lock \
	deploy info logs remove

# Serverless tooling (osls, serverless-offline, ...): pinned in package-lock.json, run through
# scripts/sls, which activates the venv, cleans up child processes and sets dummy AWS credentials
# for the local commands only (package, offline, invoke local), never for deploy/info/logs/remove.
NODE_STAMP := node_modules/.installed
SLS := scripts/sls
# make run OFFLINE_EVENTS=http: REST (payload v1) instead of HTTP API (payload v2) on :5000.
OFFLINE_EVENTS ?= httpApi
# make package ALB_LISTENER_ARN=arn:aws:elasticloadbalancing:...: also add the ALB event.
ALB_LISTENER_ARN ?=
# make run STORE=dynamodb: against Amazon's DynamoDB Local (data in .data/dynamodb-local), not SQLite.
STORE ?= sqlite
# make run PORT=5001: the API's port; the emulator's Lambda invoke port moves with it
# (PORT - 1998: 5000 -> 3002, serverless-offline's default; 5001 -> 3003) unless LAMBDA_PORT is given.
PORT ?= 5000
LAMBDA_PORT ?= $(shell expr "$(PORT)" - 1998 2>/dev/null)
# make deploy|info|logs|remove STAGE=prod REGION=eu-west-1 PARAMS="restApi=true alarmEmail=a@b.c"
# (README: Runbook). Real AWS, with the caller's own credentials (env, AWS_PROFILE, ~/.aws).
STAGE ?= dev
REGION ?= us-east-1
PARAMS ?=
AWS_TARGET = --stage "$(STAGE)" --region "$(REGION)" $(foreach p,$(PARAMS),--param="$(p)")
# make invoke-local EVENT=tests/events/rest_v1.json
EVENT ?= tests/events/http_api_v2.json

# Preflight (scripts/preflight, serverless_plugins/ports.js): before any recipe runs, a missing
# node or npm, a PYTHON or .venv that is not $(LAMBDA_PYTHON), or a taken port stops make with one line that
# says what to do. Each check runs only for the goals that need it.
NODE_GOALS := run test package deploy info logs remove invoke-local bench node_modules
VENV_GOALS := run test package deploy info logs remove invoke-local bench venv lint check fuzz \
	openapi
PYTHON_GIVEN := $(if $(filter command line environment,$(origin PYTHON)),1,0)
# A venv is about to be built from PYTHON: .venv is missing, or make test needs checkov's.
PYTHON_NEEDED := $(if $(wildcard $(VENV_PY)),$(if $(and $(filter test,$(MAKECMDGOALS)),\
	$(if $(wildcard $(CHECKOV_VENV)/bin/python),,1)),1,0),1)
preflight_stop = $(if $(1),$(error $(1)))
ifneq ($(filter $(NODE_GOALS),$(MAKECMDGOALS)),)
  $(call preflight_stop,$(shell scripts/preflight node))
endif
ifneq ($(filter $(VENV_GOALS),$(MAKECMDGOALS)),)
  $(call preflight_stop,$(shell scripts/preflight python "$(LAMBDA_PYTHON)" "$(VENV)" "$(PYTHON)" $(PYTHON_GIVEN) $(PYTHON_NEEDED)))
endif
# AWS-facing goals: no credentials source at all stops make before it installs anything.
AWS_GOALS := deploy info logs remove
ifneq ($(filter $(AWS_GOALS),$(MAKECMDGOALS)),)
  $(call preflight_stop,$(shell scripts/preflight aws))
endif
ifneq ($(filter run,$(MAKECMDGOALS)),)
  $(call preflight_stop,$(shell node serverless_plugins/ports.js check "$(PORT)" "$(LAMBDA_PORT)"))
endif

help:
	@echo "make run           serve the API on http://localhost:5000 (make run PORT=5001: on 5001)"
	@echo "make run STORE=dynamodb  the same, against Amazon's DynamoDB Local"
	@echo "make check         the fast inner loop: lint + every test that starts no process"
	@echo "make test          the full suite in parallel, with branch coverage (docs/testing.md)"
	@echo "make fuzz          deep random property and schema runs (not part of CI)"
	@echo "make lint          ruff and mypy"
	@echo "make openapi       regenerate openapi.yaml and app/openapi.json (scripts/openapi.py)"
	@echo "make lock          recompile the hash-locked requirements*.txt from their .in files"
	@echo "make package       build .serverless/user-api.zip and the templates (no AWS calls)"
	@echo "make invoke-local EVENT=tests/events/...json  one event through osls invoke local"
	@echo "make bench         cold start, warm cost and zip size of the package"
	@echo "make reset         delete local data (instance/*.sqlite3, .data/); keeps .venv, node_modules"
	@echo "make clean         delete the venv and build caches; local data only as make reset does"
	@echo "make venv | node_modules | browser   install the Python, Node or Chromium toolchain"
	@echo "make deploy | info | logs | remove  STAGE=dev REGION=us-east-1 PARAMS=\"name=value ...\""

# PYTHON was checked by the preflight above.
$(VENV_PY):
	"$(PYTHON)" -m venv $(VENV)

$(RUN_STAMP): $(VENV_PY) requirements.txt requirements-run.txt
	$(VENV_PY) $(PIP_INSTALL) -r requirements-run.txt
	touch $@

$(STAMP): $(VENV_PY) requirements.txt requirements-run.txt requirements-dev.txt
	$(VENV_PY) $(PIP_INSTALL) -r requirements-dev.txt
	touch $(RUN_STAMP) $@

venv: $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	"$(PYTHON)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) -r requirements-checkov.txt
	touch $@

$(LOCK_STAMP): requirements-lock.txt
	"$(or $(PYTHON),python3)" -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python $(PIP_INSTALL) -r requirements-lock.txt
	touch $@

# Re-compile every requirements*.txt from its .in file (docs/deployment.md: Dependencies). Pins
# already in a .txt are kept unless its .in asks otherwise; UPGRADE=1 takes the newest allowed.
lock: $(LOCK_STAMP)
	scripts/lock $(LOCK_VENV)/bin/uv $(if $(UPGRADE),--upgrade)

$(NODE_STAMP): package.json package-lock.json .npmrc
	npm ci --no-audit --no-fund
	touch $@

node_modules: $(NODE_STAMP)

# Debian's Chromium for tests/test_browser.py (Playwright drives it; it never downloads one).
# Installed only when missing; needs root, as CI has. A stale package list gets one update.
CHROMIUM := /usr/bin/chromium
browser:
	@[ -x $(CHROMIUM) ] || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends chromium \
	  || { apt-get update && apt-get install -y --no-install-recommends chromium; } \
	  || { echo "error: $(CHROMIUM) is missing and apt-get could not install it;" \
	       "run as root: apt-get install chromium" >&2; exit 1; }; }

# serverless-offline on http://localhost:$(PORT) running handler.py in the venv, its Lambda invoke
# API on $(LAMBDA_PORT). Ctrl-C stops it.
run: $(RUN_STAMP) $(NODE_STAMP)
	$(if $(filter dynamodb,$(STORE)),scripts/run_dynamodb_local.sh) $(SLS) offline start \
	  --httpPort "$(PORT)" --lambdaPort "$(LAMBDA_PORT)" --param="offlineEvents=$(OFFLINE_EVENTS)"

# Empties the local data (instance/*.sqlite3 with -wal/-shm, .data/); refuses while make run
# (or anything else) has it open. Never touches .venv or node_modules.
reset:
	@scripts/reset_local_data

# .serverless/user-api.zip and the CloudFormation templates, built locally (no AWS calls).
package: $(STAMP) $(NODE_STAMP)
	$(SLS) package $(if $(ALB_LISTENER_ARN),--param="albListenerArn=$(ALB_LISTENER_ARN)") \
	  $(foreach p,$(PARAMS),--param="$(p)")

# AWS-facing: these use your own credentials (docs/deployment.md). They need osls (node_modules)
# and a venv of the runtime's Python with nothing installed: serverless-python-requirements
# pip-installs the hash-locked requirements.txt into the package itself, and the bytecode step
# uses only the standard library. The credentials are checked twice before anything is built:
# the preflight above (any source at all, instantly) and scripts/sls (STS GetCallerIdentity,
# scripts/check_aws_credentials.js); scripts/sls also refuses the dummy key.
deploy: $(NODE_STAMP) $(VENV_PY)
	$(SLS) deploy $(AWS_TARGET)

info: $(NODE_STAMP) $(VENV_PY)
	$(SLS) info $(AWS_TARGET)

# Follows the function's log (JSON lines) until Ctrl-C.
logs: $(NODE_STAMP) $(VENV_PY)
	$(SLS) logs -f api --tail $(AWS_TARGET)

remove: $(NODE_STAMP) $(VENV_PY)
	$(SLS) remove $(AWS_TARGET)

# The runtime set only (requirements-run.txt), as make run.
invoke-local: $(RUN_STAMP) $(NODE_STAMP)
	$(SLS) invoke local -f api -p $(EVENT)

# Cold start of the packaged zip, warm cost per invocation, zip size (bench/bench.py).
bench: package
	$(VENV_PY) bench/bench.py

# openapi.yaml and app/openapi.json from scripts/openapi.py (the spec's one source, built
# from app/'s rules); commit both. tests/test_openapi.py fails while either is stale.
openapi: $(STAMP)
	$(VENV_PY) -m scripts.openapi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The fast inner loop: lint, then every test that starts no process (tests/tiers.py marks the
# others slow from the fixtures they use, and fails any unmarked test that starts one).
check: lint
	$(VENV)/bin/python -m pytest -m "not slow" -n 2 -q -p no:cacheprovider

# Everything, on two xdist workers, under coverage.py (subprocesses included: [tool.coverage]
# in pyproject.toml); fails below the floor there. Coverage data goes to .cache/coverage/.
COVERAGE_DATA := $(CURDIR)/.cache/coverage/data
test: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) browser lint
	rm -rf .cache/coverage && mkdir -p .cache/coverage
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage run -m pytest -n 2 -p no:cacheprovider
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage combine --quiet
	COVERAGE_FILE=$(COVERAGE_DATA) $(VENV)/bin/coverage report

# Random exploration with many fresh hypothesis examples (not part of CI, whose profile is a
# few hundred derandomized examples).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/python -m pytest tests/test_handler_properties.py \
	  tests/test_schemathesis.py

# Local data (instance/, .data/) goes only through make reset's checks (nothing has it open).
clean:
	scripts/reset_local_data
	rm -rf $(VENV) .serverless .pytest_cache .ruff_cache .hypothesis .cache/mypy .cache/coverage \
	  $(LOCK_VENV)
