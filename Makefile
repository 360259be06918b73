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

.PHONY: demo test lint security unit integration validate build bench clean

$(BIN)/replicator: pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements/lock.txt -e '.[dev]'
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
	$(BIN)/cfn-lint template.yaml target-account-role.yaml

security: $(BIN)/replicator $(CHECKOV)
	$(BIN)/bandit -q -r layers/replicator/replicator src functions
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f template.yaml -f target-account-role.yaml

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

build: $(SAM)
	$(SAM) build --template template.yaml --config-file samconfig.toml

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
