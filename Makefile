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

.PHONY: demo test lint security unit integration validate build bench clean deploy-forwarders \
	organization-templates deploy-organization

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
	$(BIN)/cfn-lint template.yaml target-account-role.yaml forwarder.yaml organization.yaml coordinator.yaml
	$(BIN)/lint-imports

security: $(BIN)/replicator $(CHECKOV)
	$(BIN)/bandit -q -r layers/replicator/replicator src functions
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation -f template.yaml -f target-account-role.yaml -f forwarder.yaml \
	  -f organization.yaml -f coordinator.yaml

validate: $(SAM)
	$(SAM) validate --lint --template template.yaml
	$(SAM) validate --lint --template coordinator.yaml

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
	$(SAM) build --template coordinator.yaml --build-dir .aws-sam/coordinator

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

# The whole organization through StackSets (README, "Deploying to an organization (StackSets)"):
#   make organization-templates ARTIFACT_BUCKET=my-artifacts
# sam build + sam package (code and state machine definitions into ARTIFACT_BUCKET, which must be in HOME_REGION and
# readable by the organization's accounts), the expansion of the packaged template into plain CloudFormation
# (service-managed stack sets refuse the AWS::Serverless macro), forwarder.yaml for stack sets (HomeRegion instead of
# one account's bus), coordinator.yaml built, packaged and expanded the same way, then sam package again to put the
# four stack set templates in the bucket; nothing else is uploaded. It ends by printing the deploy command of
# organization.yaml with the four template URLs, which
#   make deploy-organization ARTIFACT_BUCKET=... WORKLOAD_OUS=ou-a,ou-b VAULT_OU=ou-v VAULT_ACCOUNT=111111111111 \
#     ORGANIZATION_ID=o-... EXTERNAL_ID=... [OTHER_REGIONS=eu-west-1,ap-southeast-2] [REPLICA_TARGETS=organization] \
#     [ALARM_EMAIL=...] [CALL_AS=DELEGATED_ADMIN]
# runs (aws CLI; credentials of the management account or of a delegated administrator).
ARTIFACT_PREFIX ?= rds-snapshot-replicator
ORG_DIR := .aws-sam/organization
ORG_STACK_NAME ?= rds-snapshot-replicator-organization
CALL_AS ?= SELF
REPLICA_TARGETS ?= vault
ORG_OVERRIDES = CallAs=$(CALL_AS) HomeRegion=$(HOME_REGION) WorkloadOuIds=$(WORKLOAD_OUS) \
  OtherRegions=$(OTHER_REGIONS) VaultOuId=$(VAULT_OU) VaultAccountId=$(VAULT_ACCOUNT) \
  OrganizationId=$(ORGANIZATION_ID) ReplicaTargets=$(REPLICA_TARGETS) AlarmEmail=$(ALARM_EMAIL)
organization-templates: $(SAM) $(BIN)/replicator
	@test -n "$(ARTIFACT_BUCKET)" || { echo 'name the artifact bucket (in HOME_REGION, readable by the organization): make organization-templates ARTIFACT_BUCKET=my-artifacts' >&2; exit 2; }
	$(SAM) build --template template.yaml --config-file samconfig.toml
	@mkdir -p $(ORG_DIR)
	$(SAM) package --template-file .aws-sam/build/template.yaml --region $(HOME_REGION) \
	  --s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(ARTIFACT_PREFIX) --output-template-file $(ORG_DIR)/packaged.yaml
	$(BIN)/python -m replicator_cli.local.expand $(ORG_DIR)/packaged.yaml $(ORG_DIR)/replicator.yaml
	$(BIN)/python -m replicator_cli.local.expand --forwarder forwarder.yaml $(ORG_DIR)/forwarder.yaml
	cp target-account-role.yaml $(ORG_DIR)/target-account-role.yaml
	$(SAM) build --template coordinator.yaml --build-dir .aws-sam/coordinator
	$(SAM) package --template-file .aws-sam/coordinator/template.yaml --region $(HOME_REGION) \
	  --s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(ARTIFACT_PREFIX) --output-template-file $(ORG_DIR)/coordinator-packaged.yaml
	$(BIN)/python -m replicator_cli.local.expand $(ORG_DIR)/coordinator-packaged.yaml $(ORG_DIR)/coordinator.yaml
	@# sam package uploads a stack set's local TemplateURL (under a name from its content) and writes its S3 URL
	@printf '%s\n' 'Resources:' \
	  '  Replicator: {Type: "AWS::CloudFormation::StackSet", Properties: {TemplateURL: replicator.yaml}}' \
	  '  Forwarder: {Type: "AWS::CloudFormation::StackSet", Properties: {TemplateURL: forwarder.yaml}}' \
	  '  TargetRole: {Type: "AWS::CloudFormation::StackSet", Properties: {TemplateURL: target-account-role.yaml}}' \
	  '  Coordinator: {Type: "AWS::CloudFormation::StackSet", Properties: {TemplateURL: coordinator.yaml}}' \
	  > $(ORG_DIR)/stack-set-templates.yaml
	$(SAM) package --template-file $(ORG_DIR)/stack-set-templates.yaml --region $(HOME_REGION) \
	  --s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(ARTIFACT_PREFIX) --output-template-file $(ORG_DIR)/template-urls.yaml
	@$(BIN)/python -c 'import sys, yaml; r = yaml.safe_load(open(sys.argv[1]))["Resources"]; \
	  print("\n".join(n + "TemplateUrl=" + r[n]["Properties"]["TemplateURL"] for n in ("Replicator", "Forwarder", "TargetRole", "Coordinator")))' \
	  $(ORG_DIR)/template-urls.yaml > $(ORG_DIR)/template-urls.txt
	@echo "Templates in s3://$(ARTIFACT_BUCKET)/$(ARTIFACT_PREFIX)/ ($(ORG_DIR)/template-urls.txt). Deploy with (or: make deploy-organization ...):"
	@echo "  aws cloudformation deploy --template-file organization.yaml --stack-name $(ORG_STACK_NAME) --region $(HOME_REGION) \\"
	@echo "    --parameter-overrides $$(tr '\n' ' ' < $(ORG_DIR)/template-urls.txt)\\"
	@echo "    $(ORG_OVERRIDES) ExternalId=..."

deploy-organization: organization-templates
	@missing=""; for v in WORKLOAD_OUS=$(WORKLOAD_OUS) VAULT_OU=$(VAULT_OU) VAULT_ACCOUNT=$(VAULT_ACCOUNT) \
	  ORGANIZATION_ID=$(ORGANIZATION_ID) EXTERNAL_ID=$(if $(EXTERNAL_ID),set); do \
	  case "$$v" in *=) missing="$$missing $${v%=}";; esac; done; \
	  test -z "$$missing" || { echo "give$$missing (README, \"Deploying to an organization (StackSets)\")" >&2; exit 2; }
	aws cloudformation deploy --template-file organization.yaml --stack-name $(ORG_STACK_NAME) --region $(HOME_REGION) \
	  --no-fail-on-empty-changeset --parameter-overrides $$(cat $(ORG_DIR)/template-urls.txt) \
	  $(ORG_OVERRIDES) ExternalId="$$EXTERNAL_ID"

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache
