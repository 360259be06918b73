# Two entry points: `make demo` and `make test`. Both build .venv (pinned by requirements/lock.txt) on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
export AWS_DEFAULT_REGION ?= us-east-1
# sam build needs the Lambda runtime's Python (3.12) on PATH; pyenv provides it on these machines.
export PYENV_VERSION ?= 3.11.7:3.12.1
export SAM_CLI_TELEMETRY = 0

.PHONY: demo test lint security unit integration validate build bench clean deploy-forwarders

$(BIN)/replicator: pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements/lock.txt -e '.[dev,local]'
	@touch $@

# aws-sam-cli pins boto3 versions that clash with moto's: it lives in its own virtual environment.
$(SAM): requirements/sam-cli.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet -r requirements/sam-cli.txt
	@touch $@

# checkov too pins its own dependencies: its own virtual environment, run offline (--skip-download).
$(CHECKOV): requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements/checkov.txt
	@touch $@

demo: $(BIN)/replicator
	$(BIN)/replicator local demo

lint: $(BIN)/replicator
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/replicator/replicator src/replicator_cli functions
	$(BIN)/cfn-lint template.yaml target-account-role.yaml forwarder.yaml
	$(BIN)/lint-imports

security: $(BIN)/replicator $(CHECKOV)
	$(BIN)/bandit -q -r layers/replicator/replicator src functions
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f template.yaml -f target-account-role.yaml -f forwarder.yaml

validate: $(SAM)
	$(SAM) validate --lint --template template.yaml

unit: $(BIN)/replicator
	$(BIN)/pytest tests/unit

integration: $(BIN)/replicator
	$(BIN)/pytest tests/integration

test: lint security validate build $(BIN)/replicator
	$(BIN)/pytest

bench: $(BIN)/replicator
	$(BIN)/python bench/wait_bench.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/burst_makespan.py
	$(BIN)/python bench/replication_cost.py
	$(BIN)/python bench/copy_ledger.py
	$(BIN)/python bench/coverage_audit.py
	$(BIN)/python bench/restore_test_cost.py
	$(BIN)/python bench/org_burst.py

build: $(SAM)
	$(SAM) build --template template.yaml --config-file samconfig.toml

# forwarder.yaml in each other source region (README, "Every source region"), e.g.
#   make deploy-forwarders REGIONS="eu-west-1 ap-southeast-2"
# The home bus is HOME_EVENT_BUS_ARN if given, else the HomeEventBusArn output of the replicator stack STACK_NAME in
# HOME_REGION. The home region itself is skipped (its events need no forwarding), so REGIONS may list every region.
# --config-env forwarder: samconfig.toml's default deploy settings are the replicator stack's, not the forwarders'.
# STACK_NAME and HOME_REGION default to samconfig.toml's stack name and deploy region.
STACK_NAME ?= rds-snapshot-replicator
HOME_REGION ?= us-east-1
FORWARDER_STACK_NAME ?= rds-snapshot-replicator-forwarder
deploy-forwarders: $(SAM)
	@test -n "$(REGIONS)" || { echo 'name the source regions: make deploy-forwarders REGIONS="eu-west-1 ap-southeast-2"' >&2; exit 2; }
	@bus="$(HOME_EVENT_BUS_ARN)"; \
	if [ -z "$$bus" ]; then \
	  outputs=$$($(SAM) list stack-outputs --stack-name $(STACK_NAME) --region $(HOME_REGION) --output json) \
	    || { echo "cannot read the outputs of stack $(STACK_NAME) in $(HOME_REGION): set STACK_NAME and HOME_REGION, or give HOME_EVENT_BUS_ARN" >&2; exit 1; }; \
	  bus=$$(echo "$$outputs" | $(PYTHON) -c 'import json, sys; print(next((o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "HomeEventBusArn"), ""))') || exit 1; \
	  test -n "$$bus" || { echo "stack $(STACK_NAME) in $(HOME_REGION) has no HomeEventBusArn output: deploy the current template.yaml, or give HOME_EVENT_BUS_ARN" >&2; exit 1; }; \
	fi; \
	home=$$(echo "$$bus" | cut -d: -f4); \
	for region in $(REGIONS); do \
	  if [ "$$region" = "$$home" ]; then echo "$$region: the replicator's own region, skipped"; continue; fi; \
	  echo "$$region: forwarding snapshot events to $$bus"; \
	  $(SAM) deploy --config-env forwarder --template-file forwarder.yaml --region "$$region" \
	    --stack-name $(FORWARDER_STACK_NAME) --parameter-overrides HomeEventBusArn="$$bus" \
	    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --no-confirm-changeset || exit 1; \
	done

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
