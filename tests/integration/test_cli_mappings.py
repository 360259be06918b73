"""`replicator mappings ...` against the provisioned stack on the embedded emulation, driven through typer's runner.

Every command finds the mapping table from the stack's outputs (`--stack-name replicator`), as it would on AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import support
import yaml
from support import ROOT, SOURCE_ACCOUNT, TARGET_ACCOUNT, aurora, database
from typer.testing import CliRunner

from replicator.aws.dynamodb import region_mappings
from replicator.mapping import KeyUsage, MappingTarget, RegionMapping
from replicator.selection import DatabaseFacts, Selection
from replicator_cli import context as cli_context
from replicator_cli.local.cloud import LocalCloud
from replicator_cli.local.scenario import ScenarioRunner
from replicator_cli.main import app

runner = CliRunner()

WEST_KEY = f"arn:aws:kms:us-west-2:{SOURCE_ACCOUNT}:key/1111aaaa-2222-3333-4444-555566667777"
EU_KEY = f"arn:aws:kms:eu-west-1:{TARGET_ACCOUNT}:key/4444cccc-5555-6666-7777-888899990000"
SHARE_KEY = f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/8888bbbb-9999-aaaa-bbbb-ccccddddeeee"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/rds-snapshot-replicator-target"
OWN_ROLE = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/rds-snapshot-replicator-self"
# put's options for the vault: the target account in eu-west-1, encrypted with its key, through a share key
VAULT = (
    f"--target-region eu-west-1 --role-arn {TARGET_ROLE} --encrypt --kms-key-arn {EU_KEY} "
    f"--share-kms-key-arn {SHARE_KEY}"
).split()


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(ROOT, parameters={"AllowedTargetAccounts": TARGET_ACCOUNT}) as local:
        yield local


def cli(*args: str, input: str | None = None) -> Any:
    """Run `replicator --stack-name replicator ARGS` with a wide terminal (no ARN folded across lines)."""
    return runner.invoke(app, ["--stack-name", "replicator", *args], input=input, env={"COLUMNS": "300"})


def flat(result: Any) -> str:
    """stdout and stderr as one line of words: without rich's boxes and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃┏┓┗┛━┡┩╇┳┻╋└┘┴┬┼┌┐├┤]", " ", result.output).split())


def item(cloud: LocalCloud, region: str) -> dict[str, Any] | None:
    return region_mappings.mapping_item(cloud.stack.mapping_table, region)


def all_items(cloud: LocalCloud) -> list[dict[str, Any]]:
    return region_mappings.mapping_items(cloud.stack.mapping_table)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def put(*args: str) -> Any:
    return ok(cli("mappings", "put", *args))


def raw_put(cloud: LocalCloud, raw: dict[str, Any]) -> None:
    """An item written around the CLI's validation, as a hand edit in the console would."""
    boto3.resource("dynamodb").Table(cloud.stack.mapping_table).put_item(Item=raw)


def empty_table(cloud: LocalCloud) -> None:
    for existing in all_items(cloud):
        region_mappings.delete_mapping(cloud.stack.mapping_table, existing["source_region"])
    assert all_items(cloud) == []


# --- put / put-all -------------------------------------------------------------------------------------------------


def test_put_writes_an_item_that_the_mapping_model_reads_back(cloud):
    result = put(
        "us-east-1",
        "--target-region",
        "us-west-2",
        "--encrypt",
        "--kms-key-arn",
        WEST_KEY,
        "--no-copy-tags",
        "--description",
        "disaster recovery",
    )
    assert "added target this account / us-west-2 for us-east-1 (1 target(s) now)" in flat(result)
    raw = item(cloud, "us-east-1")
    mapping = RegionMapping.model_validate(raw)
    (target,) = mapping.targets
    assert target.target_region == "us-west-2"
    assert target.role_arn is None
    assert target.encryption.enabled is True
    assert target.encryption.kms_key_arn == WEST_KEY
    assert target.encryption.key_usage is KeyUsage.ALL
    assert target.copy_tags is False
    assert mapping.description == "disaster recovery"
    assert mapping.updated_at  # stamped by put
    # the item is exactly the model's dump: the Lambdas read what the CLI wrote
    assert raw == mapping.model_dump(mode="json", exclude_none=True)


def test_a_second_put_with_another_target_region_adds_a_target(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    result = put("us-east-1", *VAULT)
    assert f"added target {TARGET_ACCOUNT} / eu-west-1" in flat(result)
    assert "(2 target(s) now)" in flat(result)
    mapping = RegionMapping.model_validate(item(cloud, "us-east-1"))
    assert [(t.target_region, t.role_arn) for t in mapping.targets] == [
        ("us-west-2", None),
        ("eu-west-1", TARGET_ROLE),
    ]
    assert mapping.targets[1].share_kms_key_arn == SHARE_KEY
    assert mapping.targets[1].encryption.kms_key_arn == EU_KEY


def test_a_put_with_the_same_account_and_region_replaces_that_target(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
    result = put(
        "us-east-1",
        "--target-region",
        "eu-west-1",
        "--role-arn",
        TARGET_ROLE.replace("rds-snapshot-replicator-target", "rds-snapshot-replicator-other"),  # same account
        "--no-copy-tags",
        "--yes",
    )
    assert f"replaced target {TARGET_ACCOUNT} / eu-west-1" in flat(result)
    mapping = RegionMapping.model_validate(item(cloud, "us-east-1"))
    assert [(t.target_region, t.copy_tags) for t in mapping.targets] == [("us-west-2", True), ("eu-west-1", False)]
    assert mapping.targets[1].role_arn.endswith(":role/rds-snapshot-replicator-other")


def test_a_put_duplicating_a_role_less_target_replaces_it_instead_of_refusing(cloud):
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY)
    put("us-east-1", "--target-region", "eu-west-1")

    # no role again, same region: the role-less target is replaced
    result = cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--no-copy-tags", "--yes")
    assert result.exit_code == 0, result.output
    assert "replaced target this account / us-west-2" in flat(result)
    targets = RegionMapping.model_validate(item(cloud, "us-east-1")).targets
    assert [(t.target_region, t.encryption.enabled, t.copy_tags) for t in targets] == [
        ("eu-west-1", False, True),
        ("us-west-2", False, False),
    ]

    # a role in this very account is the same account as no role (as the Lambda reads it): replaced too, so that
    # the mapping never holds two targets the Lambda would refuse as duplicates
    result = cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--role-arn", OWN_ROLE, "-y")
    assert result.exit_code == 0, result.output
    assert f"replaced target {SOURCE_ACCOUNT} / us-west-2" in flat(result)
    targets = RegionMapping.model_validate(item(cloud, "us-east-1")).targets
    assert [(t.target_region, t.role_arn) for t in targets] == [("eu-west-1", None), ("us-west-2", OWN_ROLE)]


def test_put_replace_drops_the_other_targets(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE, "--description", "kept")
    result = put("us-east-1", "--target-region", "ap-south-1", "--replace")
    assert "(1 target(s) now)" in flat(result)
    mapping = RegionMapping.model_validate(item(cloud, "us-east-1"))
    assert [t.target_region for t in mapping.targets] == ["ap-south-1"]
    assert mapping.description == "kept"


def test_key_usage_encrypted_only_is_stored_as_encrypted_only(cloud):
    put(
        "us-east-1",
        "--target-region",
        "us-west-2",
        "--encrypt",
        "--kms-key-arn",
        WEST_KEY,
        "--key-usage",
        "encrypted-only",
    )
    raw = item(cloud, "us-east-1")
    assert raw["targets"][0]["encryption"]["key_usage"] == "encrypted_only"
    assert RegionMapping.model_validate(raw).targets[0].encryption.key_usage is KeyUsage.ENCRYPTED_ONLY


def test_put_all_writes_the_mapping_of_every_region(cloud):
    result = ok(cli("mappings", "put-all", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY))
    assert "for all regions without their own mapping" in flat(result)
    (raw,) = all_items(cloud)
    assert raw["source_region"] == "*"
    mapping = RegionMapping.model_validate(raw)
    assert mapping.targets[0].encryption.kms_key_arn == WEST_KEY
    assert item(cloud, "us-east-1") is None


def test_key_usage_accepts_the_item_spelling_too(cloud):
    put("us-east-1", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY, "--key-usage", "encrypted_only")
    assert item(cloud, "us-east-1")["targets"][0]["encryption"]["key_usage"] == "encrypted_only"


def test_a_kms_key_implies_encrypt_and_says_so_on_stderr(cloud):
    result = put("us-east-1", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY)
    assert "note: --kms-key-arn given: encryption on" in result.stderr
    assert result.stdout == ""  # table mode: the confirmation is on stderr too
    encryption = RegionMapping.model_validate(item(cloud, "us-east-1")).targets[0].encryption
    assert (encryption.enabled, encryption.kms_key_arn) == (True, WEST_KEY)

    # --encrypt given as well: nothing to say
    again = put("eu-west-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY)
    assert "--kms-key-arn given" not in again.output

    # and put-all alike
    star = ok(cli("mappings", "put-all", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY))
    assert "note: --kms-key-arn given: encryption on" in star.stderr
    assert RegionMapping.model_validate(item(cloud, "*")).targets[0].encryption.enabled is True


def test_put_with_output_json_prints_what_was_written_and_nothing_else_on_stdout(cloud):
    other_role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/replication"  # warned about: not the stack's prefix
    result = ok(
        cli(
            "mappings",
            "put",
            "us-east-1",
            "--target-region",
            "eu-west-1",
            "--role-arn",
            other_role,
            "--kms-key-arn",
            EU_KEY,
            "--retention-days",
            "30",
            "--output",
            "json",
        )
    )
    written = json.loads(result.stdout)
    assert written == {
        "source_region": "us-east-1",
        "action": "added",
        "replaced": False,
        "target": RegionMapping.model_validate(item(cloud, "us-east-1"))
        .targets[0]
        .model_dump(mode="json", exclude_none=True),
        "changed": {},
        "dropped": {},
        "added": {},
        "removed_targets": [],
        "targets": 1,
    }
    assert written["target"]["role_arn"] == other_role
    # the note and the warning went to stderr
    assert "--kms-key-arn given: encryption on" in result.stderr
    assert "warning" in result.stderr

    # replacing it (--yes): the changed and dropped settings
    replaced = ok(
        cli(
            "-o",
            "json",
            "mappings",
            "put",
            "us-east-1",
            "--target-region",
            "eu-west-1",
            "--role-arn",
            TARGET_ROLE,
            "--no-copy-tags",
            "--yes",
        )
    )
    document = json.loads(replaced.stdout)
    assert (document["action"], document["replaced"], document["targets"]) == ("replaced", True, 1)
    assert document["changed"] == {
        "role_arn": {"from": other_role, "to": TARGET_ROLE},
        "encryption.enabled": {"from": True, "to": False},
        "copy_tags": {"from": True, "to": False},
    }
    assert document["dropped"] == {"encryption.kms_key_arn": EU_KEY, "retention_days": 30}

    as_yaml = ok(cli("mappings", "put", "eu-west-1", "--target-region", "us-west-2", "-o", "yaml"))
    assert yaml.safe_load(as_yaml.stdout)["target"]["target_region"] == "us-west-2"


def test_put_all_with_output_json(cloud):
    result = ok(cli("mappings", "put-all", "--target-region", "us-west-2", "-o", "json"))
    document = json.loads(result.stdout)
    assert (document["source_region"], document["action"], document["target"]["target_region"]) == (
        "*",
        "added",
        "us-west-2",
    )


# --- put replacing a target: the changes, and a question -----------------------------------------------------------

REPLACING = [*["mappings", "put", "us-east-1", "--target-region", "us-west-2"], "--no-copy-tags", "--keep-last", "3"]


def _first_target(cloud: LocalCloud) -> None:
    put("us-east-1", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY, "--retention-days", "35")


def test_replacing_a_target_without_yes_and_without_a_terminal_is_refused_and_writes_nothing(cloud):
    _first_target(cloud)
    before = all_items(cloud)

    result = cli(*REPLACING)

    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "put replaces target this account / us-west-2 of us-east-1 whole:" in text
    assert "~ encryption.enabled: true -> false" in text
    assert f"- encryption.kms_key_arn: {WEST_KEY} (dropped)" in text
    assert "- retention_days: 35 (dropped)" in text
    assert "~ copy_tags: true -> false" in text
    assert "+ keep_last: 3" in text
    assert (
        "error: would replace target this account / us-west-2 of us-east-1 (stdin is not a terminal, nothing "
        "written): pass --yes to go ahead"
    ) in text
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert all_items(cloud) == before


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_replacing_a_target_with_machine_output_requires_yes(cloud, monkeypatch, output):
    monkeypatch.setattr(cli_context, "interactive", lambda: True)  # even with a terminal: no question
    _first_target(cloud)
    before = all_items(cloud)

    result = cli(*REPLACING, "--output", output)

    assert result.exit_code == 1, result.output
    assert f"would replace target this account / us-west-2 of us-east-1 (--output {output}, nothing written)" in (
        flat(result)
    )
    assert "pass --yes" in result.stderr
    assert result.stdout == ""
    assert all_items(cloud) == before

    result = ok(cli(*REPLACING, "--output", output, "-y"))
    document = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert document["replaced"] is True
    assert document["dropped"] == {"encryption.kms_key_arn": WEST_KEY, "retention_days": 35}
    assert document["added"] == {"keep_last": 3}
    assert item(cloud, "us-east-1")["targets"][0]["keep_last"] == 3


def test_replacing_a_target_at_a_terminal_asks_first(cloud, monkeypatch):
    monkeypatch.setattr(cli_context, "interactive", lambda: True)
    _first_target(cloud)
    before = all_items(cloud)

    declined = cli(*REPLACING, input="n\n")
    assert declined.exit_code == 1, declined.output
    assert "Replace it? [y/N]" in declined.stderr
    assert "- retention_days: 35 (dropped)" in declined.stderr
    assert "Aborted" in declined.output
    assert all_items(cloud) == before

    accepted = ok(cli(*REPLACING, input="y\n"))
    assert "replaced target this account / us-west-2 for us-east-1 (1 target(s) now)" in accepted.stderr
    stored = RegionMapping.model_validate(item(cloud, "us-east-1")).targets[0]
    assert (stored.copy_tags, stored.keep_last, stored.retention_days, stored.encryption.enabled) == (
        False,
        3,
        None,
        False,
    )


def test_putting_the_same_target_again_asks_nothing(cloud):
    _first_target(cloud)
    again = put("us-east-1", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY, "--retention-days", "35")
    assert "replaced target this account / us-west-2" in again.stderr
    assert "put replaces target" not in again.output


# --- the role's name and the stack's TargetRoleNamePrefix -----------------------------------------------------------


def test_a_role_without_the_stacks_prefix_is_written_with_a_warning(cloud):
    other = f"arn:aws:iam::{TARGET_ACCOUNT}:role/replication"
    result = put("us-east-1", "--target-region", "eu-west-1", "--role-arn", other)
    text = flat(result)
    assert (
        "warning: role name replication does not start with stack replicator's TargetRoleNamePrefix "
        "'rds-snapshot-replicator-'"
    ) in text
    assert "the replicator's IAM policy only allows assuming roles named rds-snapshot-replicator-*" in text
    assert item(cloud, "us-east-1")["targets"][0]["role_arn"] == other

    # a role named with the prefix: nothing to say
    fine = put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE, "--yes")
    assert "warning" not in fine.output


def test_the_prefix_is_read_from_the_stack_parameter():
    with LocalCloud(
        ROOT, parameters={"AllowedTargetAccounts": TARGET_ACCOUNT, "TargetRoleNamePrefix": "dr-copy-"}
    ) as local:
        warned = put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
        assert "TargetRoleNamePrefix 'dr-copy-'" in flat(warned)
        assert "roles named dr-copy-*" in flat(warned)
        role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/dr-copy-vault"
        fine = put("us-east-1", "--target-region", "eu-west-1", "--role-arn", role, "--yes")
        assert "warning" not in fine.output
        assert region_mappings.mapping_item(local.stack.mapping_table, "us-east-1")["targets"][0]["role_arn"] == role


def test_the_default_prefix_is_assumed_when_the_stack_cannot_be_read(cloud):
    args = ["--stack-name", "nope", "--mapping-table", cloud.stack.mapping_table, "mappings", "put", "us-east-1"]
    other = f"arn:aws:iam::{TARGET_ACCOUNT}:role/replication"
    result = runner.invoke(app, [*args, "--target-region", "eu-west-1", "--role-arn", other], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert (
        "does not start with the default TargetRoleNamePrefix (stack nope's parameters not readable) "
        "'rds-snapshot-replicator-'"
    ) in flat(result)


# --- refusals: the field, the option, and nothing written ----------------------------------------------------------

REFUSALS = {
    "encryption without a key": (
        ["us-east-1", "--target-region", "eu-west-1", "--encrypt"],
        ["target this account / eu-west-1: encryption: kms_key_arn is required when encryption is enabled"],
        "--encrypt / --kms-key-arn",
    ),
    "key in another region than the target": (
        ["us-east-1", "--target-region", "eu-west-1", "--encrypt", "--kms-key-arn", WEST_KEY],
        ["target this account / eu-west-1: encryption.kms_key_arn is in us-west-2 but target_region is eu-west-1"],
        "--kms-key-arn",
    ),
    "alias instead of a key ARN": (
        [
            "us-east-1",
            "--target-region",
            "us-west-2",
            "--encrypt",
            "--kms-key-arn",
            f"arn:aws:kms:us-west-2:{SOURCE_ACCOUNT}:alias/dr-west",
        ],
        ["target this account / us-west-2: encryption.kms_key_arn:", "aliases are not accepted"],
        "--kms-key-arn",
    ),
    "bad share key": (
        ["us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE, "--share-kms-key-arn", "alias/share"],
        [f"target {TARGET_ACCOUNT} / eu-west-1: share_kms_key_arn: 'alias/share' is not a KMS key ARN"],
        "--share-kms-key-arn",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_an_invalid_put_is_refused_naming_the_target_the_field_and_the_option_and_writes_nothing(cloud, case):
    put("us-east-1", "--target-region", "ap-south-1")
    before = all_items(cloud)
    args, fragments, option = REFUSALS[case]

    result = cli("mappings", "put", *args)

    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "invalid mapping, nothing written" in text
    for fragment in fragments:
        assert fragment in text
    assert f"(option {option})" in text
    assert "targets.1" not in text  # the target is named by its account and region, not by its index
    assert "Traceback" not in result.output
    assert result.stdout == ""  # the refusal is on stderr
    assert all_items(cloud) == before  # the existing item is unchanged, and no other item appeared


# values refused at the door, before anything is read: a usage error (exit 2) naming the option and the fix
USAGE_ERRORS = {
    "source region botocore does not know": (
        ["put", "us-east-9", "--target-region", "eu-west-1"],
        [
            "Invalid value for 'SOURCE_REGION'",
            "'us-east-9' is not an AWS region with RDS: did you mean us-east-2 or us-east-1?",
        ],
    ),
    "source region that is not a region at all": (
        ["put", "us-east", "--target-region", "eu-west-1"],
        ["'us-east' is not an AWS region with RDS"],
    ),
    "target region misspelled": (
        ["put", "us-east-1", "--target-region", "us-westt-2"],
        ["Invalid value for '--target-region'", "'us-westt-2' is not an AWS region with RDS: did you mean us-west-2"],
    ),
    "target region that is not a region at all": (
        ["put", "us-east-1", "--target-region", "Europe"],
        ["Invalid value for '--target-region'", "'Europe' is not an AWS region with RDS"],
    ),
    "put-all target region misspelled": (
        ["put-all", "--target-region", "eu-wst-1"],
        ["Invalid value for '--target-region'", "did you mean eu-west-1"],
    ),
    "an account number as the role": (
        ["put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ACCOUNT],
        [
            "Invalid value for '--role-arn'",
            f"'{TARGET_ACCOUNT}' is not an IAM role ARN such as arn:aws:iam::{TARGET_ACCOUNT}:role/",
        ],
    ),
    "a malformed role ARN": (
        ["put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", "arn:aws:iam::2109876:role/replication"],
        ["Invalid value for '--role-arn'", "is not an IAM role ARN such as arn:aws:iam::210987654321:role/"],
    ),
    "put-all with an account number as the role": (
        ["put-all", "--target-region", "eu-west-1", "--role-arn", TARGET_ACCOUNT],
        ["Invalid value for '--role-arn'", "is not an IAM role ARN"],
    ),
    "a key with --no-encrypt": (
        ["put", "us-east-1", "--target-region", "us-west-2", "--no-encrypt", "--kms-key-arn", WEST_KEY],
        ["Invalid value for '--kms-key-arn'", "cannot be combined with --no-encrypt", "drop --no-encrypt"],
    ),
    "put-all: a key with --no-encrypt": (
        ["put-all", "--target-region", "us-west-2", "--kms-key-arn", WEST_KEY, "--no-encrypt"],
        ["Invalid value for '--kms-key-arn'", "cannot be combined with --no-encrypt"],
    ),
    "an unknown key usage": (
        ["put", "us-east-1", "--target-region", "us-west-2", "--key-usage", "sometimes"],
        ["Invalid value for '--key-usage'", "'all', 'encrypted-only'"],
    ),
    "csv for a result that is not rows": (
        ["put", "us-east-1", "--target-region", "us-west-2", "--output", "csv"],
        ["Invalid value for '--output'", "csv is for results that are rows", "use json or yaml"],
    ),
    "delete --role-arn not an ARN": (
        ["delete", "us-east-1", "--target-region", "us-west-2", "--role-arn", TARGET_ACCOUNT],
        ["Invalid value for '--role-arn'", "is not an IAM role ARN"],
    ),
}


@pytest.mark.parametrize("case", list(USAGE_ERRORS))
def test_a_bad_option_value_is_a_usage_error_naming_the_option_and_writes_nothing(cloud, case):
    put("us-east-1", "--target-region", "ap-south-1")
    before = all_items(cloud)
    args, fragments = USAGE_ERRORS[case]

    result = cli("mappings", *args)

    assert result.exit_code == 2, result.output
    text = flat(result)
    for fragment in fragments:
        assert fragment in text
    assert "Traceback" not in result.output
    assert "IndexError" not in result.output
    assert result.stdout == ""
    assert all_items(cloud) == before


def test_an_invalid_put_all_is_refused_and_writes_no_star_mapping(cloud):
    result = cli("mappings", "put-all", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", EU_KEY)
    assert result.exit_code == 1, result.output
    assert "encryption.kms_key_arn is in eu-west-1 but target_region is us-west-2" in flat(result)
    assert "(option --kms-key-arn)" in flat(result)
    assert all_items(cloud) == []


def test_an_unknown_key_usage_is_refused_by_the_option_parser(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    before = item(cloud, "us-east-1")
    result = cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--key-usage", "sometimes")
    assert result.exit_code == 2, result.output
    text = flat(result)
    assert "Invalid value for '--key-usage'" in text
    assert "'all', 'encrypted-only'" in text
    assert item(cloud, "us-east-1") == before


def test_show_and_delete_of_a_region_without_mapping_fail(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)
    for args in (["show", "eu-central-1"], ["delete", "eu-central-1", "--yes"]):
        result = cli("mappings", *args)
        assert result.exit_code == 1, result.output
        assert "no mapping for eu-central-1" in flat(result)
    assert all_items(cloud) == before


def test_delete_of_a_target_the_mapping_does_not_have_fails_and_keeps_it(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
    before = item(cloud, "us-east-1")

    result = cli("mappings", "delete", "us-east-1", "--target-region", "ap-south-1")
    assert result.exit_code == 1, result.output
    assert "the mapping of us-east-1 has no target this account / ap-south-1" in flat(result)

    # eu-west-1 exists, but in the target account, not in this one
    result = cli("mappings", "delete", "us-east-1", "--target-region", "eu-west-1")
    assert result.exit_code == 1, result.output
    assert "has no target this account / eu-west-1" in flat(result)
    assert item(cloud, "us-east-1") == before


# --- list, show, delete --------------------------------------------------------------------------------------------


def _seed_for_list(cloud: LocalCloud) -> None:
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY, "--retention-days", "35")
    put(
        "us-east-1",
        "--target-region",
        "eu-west-1",
        "--role-arn",
        TARGET_ROLE,
        "--share-kms-key-arn",
        SHARE_KEY,
        "--no-copy-tags",
        "--retention-days",
        "90",
        "--keep-last",
        "7",
    )
    ok(cli("mappings", "put-all", "--target-region", "us-west-2", "--key-usage", "encrypted-only"))
    raw_put(
        cloud,
        {"source_region": "eu-west-1", "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True}}]},
    )


def _row(**values: Any) -> dict[str, Any]:
    """A row of `mappings list --output json`: every field, these values."""
    row: dict[str, Any] = {
        "source_region": "us-east-1",
        "target_account": SOURCE_ACCOUNT,
        "role_arn": None,
        "target_region": "us-west-2",
        "encrypted": False,
        "kms_key_arn": None,
        "key_usage": "all",
        "copy_tags": True,
        "share_kms_key_arn": None,
        "transfer_kms_key_arn": None,
        "retention_days": None,
        "keep_last": None,
        "retention": None,
        "selection": None,
        "rpo_hours": None,
        "restore_test": None,
    }
    row.update(values)
    return row


def test_list_as_json_gives_one_row_per_target_and_an_invalid_item_with_its_error(cloud):
    _seed_for_list(cloud)

    result = ok(cli("mappings", "list", "--output", "json"))

    rows = json.loads(result.stdout)  # stdout holds the result alone
    assert rows == [
        _row(source_region="*", key_usage="encrypted_only"),
        {
            "source_region": "eu-west-1",
            "error": "target this account / us-west-2: encryption: kms_key_arn is required when encryption is enabled: "
            "set it to a KMS key in the target region",
        },
        _row(encrypted=True, kms_key_arn=WEST_KEY, retention_days=35, retention="retention_days 35"),
        _row(
            target_account=TARGET_ACCOUNT,
            role_arn=TARGET_ROLE,
            target_region="eu-west-1",
            copy_tags=False,
            share_kms_key_arn=SHARE_KEY,
            retention_days=90,
            keep_last=7,
            retention="retention_days 90 and keep_last 7",
        ),
    ]
    assert "Traceback" not in result.output


def test_list_as_yaml_and_csv(cloud):
    _seed_for_list(cloud)
    as_json = json.loads(ok(cli("mappings", "list", "-o", "json")).stdout)

    assert yaml.safe_load(ok(cli("-o", "yaml", "mappings", "list")).stdout) == as_json

    lines = ok(cli("mappings", "list", "-o", "csv")).stdout.splitlines()
    header = lines[0].split(",")
    assert header[:4] == ["source_region", "target_account", "role_arn", "target_region"]
    assert "key_usage" in header
    assert "error" in header
    assert len(lines) == 1 + len(as_json)
    assert any(line.startswith(f"us-east-1,{TARGET_ACCOUNT},{TARGET_ROLE},eu-west-1,") for line in lines)


def test_list_as_a_table_shows_the_columns_and_an_invalid_item(cloud):
    _seed_for_list(cloud)

    result = ok(cli("mappings", "list"))

    text = flat(result)
    assert "Region mappings (" + cloud.stack.mapping_table + ")" in text
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["source", "target", "target", "key", "copy", "share", "/"]  # headers on two lines
    assert lines[3].split() == [
        "region",
        "account",
        "region",
        "encryption",
        "usage",
        "tags",
        "transfer",
        "key",
        "retention",
        "selection",
        "rpo",
    ]  # no restore test column: no target tests restores
    rows = [flat_line(line) for line in lines]
    assert "* this account us-west-2 off - yes kept every snapshot -" in rows
    assert "us-east-1 this account us-west-2 key 1 all yes retention_days 35 every snapshot -" in rows
    # a long retention wraps within its cell; the short cells stay whole
    assert any(r.startswith(f"us-east-1 {TARGET_ACCOUNT} eu-west-1 off - no key 2 retention_days") for r in rows)
    assert "eu-west-1 invalid (see below)" in rows
    # the keys in full below the table (copyable), and the invalid item's error
    assert f"key 1: {WEST_KEY}" in lines
    assert f"key 2: {SHARE_KEY}" in lines
    assert (
        "invalid eu-west-1: target this account / us-west-2: encryption: kms_key_arn is required when encryption is "
        "enabled: set it to a KMS key in the target region"
    ) in lines
    table = lines[: lines.index(f"key 1: {WEST_KEY}")]
    assert max(len(line) for line in table) <= 120  # the table fits 120 columns when piped; the notes are not folded
    assert result.stderr == ""


def flat_line(line: str) -> str:
    return " ".join(re.sub(r"[│┃]", " ", line).split())


def test_show_prints_yaml_and_json(cloud):
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY)
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
    stored = item(cloud, "us-east-1")

    as_yaml = ok(cli("mappings", "show", "us-east-1"))
    assert as_yaml.output.startswith("source_region: us-east-1\n")
    assert yaml.safe_load(as_yaml.output) == stored

    # --json: the deprecated alias of --output json
    as_json = ok(cli("mappings", "show", "us-east-1", "--json"))
    document = json.loads(as_json.stdout)
    assert document == stored
    assert [t["target_region"] for t in document["targets"]] == ["us-west-2", "eu-west-1"]
    assert "--json is deprecated" in as_json.stderr

    assert json.loads(ok(cli("mappings", "show", "us-east-1", "--output", "json")).stdout) == stored
    assert yaml.safe_load(ok(cli("-o", "yaml", "mappings", "show", "us-east-1")).stdout) == stored

    refused = cli("mappings", "show", "us-east-1", "-o", "csv")
    assert refused.exit_code == 2, refused.output
    assert "csv is for results that are rows" in flat(refused)
    assert refused.stdout == ""


def test_delete_with_yes_removes_the_whole_mapping(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("eu-west-1", "--target-region", "us-west-2")
    result = ok(cli("mappings", "delete", "us-east-1", "--yes"))
    assert "deleted the mapping of us-east-1" in flat(result)
    assert item(cloud, "us-east-1") is None
    assert item(cloud, "eu-west-1") is not None


@pytest.mark.parametrize("output", ["table", "json"])
def test_deleting_a_whole_mapping_where_no_one_can_answer_requires_yes(cloud, monkeypatch, output):
    # as put's replacement: with --output json even a terminal is not asked; a table at no terminal is not either
    monkeypatch.setattr(cli_context, "interactive", lambda: output == "json")
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)

    result = cli("mappings", "delete", "us-east-1", "--output", output)

    assert result.exit_code == 1, result.output
    why = "--output json" if output == "json" else "stdin is not a terminal"
    assert f"would delete the mapping of us-east-1 ({why}, nothing written): pass --yes" in flat(result)
    assert result.stdout == ""
    assert all_items(cloud) == before


def test_deleting_a_whole_mapping_at_a_terminal_asks_first(cloud, monkeypatch):
    monkeypatch.setattr(cli_context, "interactive", lambda: True)
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)

    declined = cli("mappings", "delete", "us-east-1", input="n\n")
    assert declined.exit_code == 1, declined.output
    assert "Delete the whole mapping of us-east-1? [y/N]" in declined.stderr
    assert "Aborted" in declined.output
    assert all_items(cloud) == before

    ok(cli("mappings", "delete", "us-east-1", input="y\n"))
    assert item(cloud, "us-east-1") is None


def test_delete_one_target_then_the_last_one_removes_the_item(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)

    result = ok(cli("mappings", "delete", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE))
    assert "deleted target eu-west-1 from us-east-1 (1 target(s) left)" in flat(result)
    mapping = RegionMapping.model_validate(item(cloud, "us-east-1"))
    assert [(t.target_region, t.role_arn) for t in mapping.targets] == [("us-west-2", None)]

    result = ok(cli("mappings", "delete", "us-east-1", "--target-region", "us-west-2"))
    assert "deleted the last target, and so the mapping of us-east-1" in flat(result)
    assert item(cloud, "us-east-1") is None


def test_delete_with_output_json_prints_what_was_deleted(cloud):
    put("us-east-1", "--target-region", "us-west-2")
    put("us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
    put("eu-west-1", "--target-region", "us-west-2")

    one = ok(
        cli("mappings", "delete", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE, "-o", "json")
    )
    document = json.loads(one.stdout)
    assert (document["source_region"], document["deleted"], document["targets_left"]) == ("us-east-1", "target", 1)
    assert (document["target"]["target_region"], document["target"]["role_arn"]) == ("eu-west-1", TARGET_ROLE)

    last = json.loads(ok(cli("-o", "json", "mappings", "delete", "us-east-1", "--target-region", "us-west-2")).stdout)
    assert (last["deleted"], last["targets_left"]) == ("mapping", 0)
    assert item(cloud, "us-east-1") is None

    whole = json.loads(ok(cli("mappings", "delete", "eu-west-1", "--yes", "--output", "json")).stdout)
    assert whole == {"source_region": "eu-west-1", "deleted": "mapping", "target": None, "targets_left": 0}
    assert all_items(cloud) == []


def test_delete_reads_a_hand_edited_malformed_role_without_failing(cloud):
    raw_put(
        cloud,
        {
            "source_region": "us-east-1",
            "targets": [{"target_region": "us-west-2"}, {"target_region": "eu-west-1", "role_arn": TARGET_ACCOUNT}],
        },
    )
    result = cli("mappings", "delete", "us-east-1", "--target-region", "ap-south-1")
    assert result.exit_code == 1, result.output
    assert "the mapping of us-east-1 has no target this account / ap-south-1" in flat(result)
    assert "Traceback" not in result.output
    listed = json.loads(ok(cli("mappings", "list", "-o", "json")).stdout)
    assert listed[0]["error"].startswith(f"target {TARGET_ACCOUNT} / eu-west-1: role_arn: '{TARGET_ACCOUNT}' is not")


# --- export / import -----------------------------------------------------------------------------------------------


def _seed_for_export() -> None:
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY, "--description", "dr")
    put("us-east-1", *VAULT, "--key-usage", "encrypted-only")
    ok(cli("mappings", "put-all", "--target-region", "us-west-2", "--no-copy-tags"))


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_then_import_into_an_emptied_table_restores_the_same_items(cloud, tmp_path, suffix):
    _seed_for_export()
    exported = all_items(cloud)
    assert len(exported) == 2
    file = tmp_path / f"mappings{suffix}"

    result = ok(cli("mappings", "export", str(file)))
    assert "exported 2 mapping(s)" in flat(result)
    text = file.read_text()
    document = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    assert [m["source_region"] for m in document["mappings"]] == ["*", "us-east-1"]
    if suffix == ".yaml":
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)  # really YAML, chosen by the extension

    empty_table(cloud)
    result = ok(cli("mappings", "import", str(file)))
    assert "+ *" in flat(result)
    assert "+ us-east-1" in flat(result)
    assert "2 change(s)" in flat(result)
    assert all_items(cloud) == exported

    # importing the same file again changes nothing
    result = ok(cli("mappings", "import", str(file)))
    assert "0 change(s)" in flat(result)
    assert all_items(cloud) == exported


@pytest.mark.parametrize("name", ["missing-directory/mappings.yaml", "."])
def test_export_to_a_file_that_cannot_be_written_is_a_file_error(cloud, tmp_path, name):
    put("us-east-1", "--target-region", "us-west-2")
    file = tmp_path / name

    result = cli("mappings", "export", str(file))

    assert result.exit_code == 3, result.output
    text = flat(result)
    assert f"error: cannot write {file}: " in text
    assert ("No such file or directory" if name != "." else "Is a directory") in text
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_export_with_output_json(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2")
    file = tmp_path / "m.yaml"
    result = ok(cli("mappings", "export", str(file), "-o", "json"))
    assert json.loads(result.stdout) == {"file": str(file), "mappings": 1}
    assert yaml.safe_load(file.read_text())["mappings"][0]["source_region"] == "us-east-1"


BROKEN_FILES = {
    "yaml: an unclosed bracket": (
        "mappings.yaml",
        "mappings:\n  - source_region: us-east-1\n    targets: [{target_region: us-west-2\n",
        "not valid YAML at line 4, column 1",
    ),
    "yaml: a tab for indentation": (
        "mappings.yml",
        "mappings:\n\t- source_region: us-east-1\n",
        "not valid YAML at line 2, column 1",
    ),
    "json: a trailing comma": (
        "mappings.json",
        '{"mappings": [\n  {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]},\n]}\n',
        "not valid JSON at line 3, column 1",
    ),
    "not text": ("mappings.yaml", b"\xff\xfe\x00m", "not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_import_of_a_broken_file_is_a_file_error_naming_the_line_and_column(cloud, tmp_path, case):
    put("us-east-1", "--target-region", "ap-south-1")
    before = all_items(cloud)
    name, content, fragment = BROKEN_FILES[case]
    file = tmp_path / name
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content)

    result = cli("mappings", "import", str(file), "--prune")

    assert result.exit_code == 3, result.output
    text = flat(result)
    assert f"error: cannot read {file}: {fragment}" in text
    assert len(result.stderr.strip().splitlines()) == 1  # one line
    assert "Traceback" not in result.output
    assert all_items(cloud) == before


def test_a_broken_selection_file_is_a_file_error(cloud, tmp_path):
    file = tmp_path / "selection.yaml"
    file.write_text("include: [{databases: [prod-*]}\n")
    result = cli(*PUT_WEST, "--selection-file", str(file))
    assert result.exit_code == 3, result.output
    assert f"--selection-file: cannot read {file}: not valid YAML at line 2" in flat(result)
    assert all_items(cloud) == []


def test_import_with_output_json_prints_the_changes(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2")
    put("ap-south-1", "--target-region", "us-west-2")
    file = _write_mappings(
        tmp_path / "mappings.yaml",
        [
            {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2", "copy_tags": False}]},
            {"source_region": "eu-west-1", "targets": [{"target_region": "us-west-2"}]},
        ],
    )

    dry = ok(cli("mappings", "import", str(file), "--dry-run", "-o", "json"))
    document = json.loads(dry.stdout)
    assert document == {
        "file": str(file),
        "dry_run": True,
        "changes": 2,
        "added": ["eu-west-1"],
        "changed": {
            "us-east-1": ["@@ -2,3 +2,3 @@", " targets:", "-- copy_tags: true", "+- copy_tags: false", "   encryption:"]
        },
        "removed": [],
        "kept": ["ap-south-1"],
    }
    assert dry.stderr == ""

    done = json.loads(ok(cli("mappings", "import", str(file), "--prune", "-o", "json")).stdout)
    assert (done["dry_run"], done["changes"], done["removed"], done["kept"]) == (False, 3, ["ap-south-1"], [])
    assert [i["source_region"] for i in all_items(cloud)] == ["eu-west-1", "us-east-1"]


def _write_mappings(path: Path, mappings: Any) -> Path:
    path.write_text(yaml.safe_dump({"mappings": mappings}, sort_keys=False))
    return path


def test_import_with_one_invalid_item_writes_nothing_and_names_it(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)
    file = _write_mappings(
        tmp_path / "mappings.yaml",
        [
            {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1"}]},
            {"source_region": "ap-south-1", "targets": [{"target_region": "us-west-2"}]},
            {
                "source_region": "eu-west-1",
                "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True}}],
            },
            {"source_region": "sa-east-1", "targets": [{"target_region": "us-west-2"}]},
        ],
    )

    result = cli("mappings", "import", str(file))

    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "is invalid, nothing written" in text
    assert (
        "mappings[2] (eu-west-1): target this account / us-west-2: encryption: kms_key_arn is required when "
        "encryption is enabled"
    ) in text
    assert "mappings[0]" not in text
    assert all_items(cloud) == before


def test_import_refuses_two_mappings_of_the_same_region(cloud, tmp_path):
    file = _write_mappings(
        tmp_path / "mappings.yaml",
        [
            {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1"}]},
            {"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]},
        ],
    )
    result = cli("mappings", "import", str(file))
    assert result.exit_code == 1, result.output
    assert "two mappings for the same source region: us-east-1" in flat(result)
    assert all_items(cloud) == []


def diff_lines(result: Any, sign: str) -> list[str]:
    """The removed ('-') or added ('+') lines of import's diffs, without YAML's indentation and list dashes."""
    prefix = "    " + sign  # import indents the unified diff's lines under their "~ region" line
    return [
        line.removeprefix(prefix).strip().removeprefix("- ")
        for line in result.output.splitlines()
        if line.startswith(prefix)
    ]


def test_import_dry_run_shows_new_and_changed_mappings_and_writes_nothing(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY)
    before = all_items(cloud)
    changed = {
        "source_region": "us-east-1",
        "targets": [
            {"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": WEST_KEY}, "copy_tags": False}
        ],
    }
    new = {"source_region": "eu-west-1", "targets": [{"target_region": "us-west-2"}, {"target_region": "us-east-2"}]}
    file = _write_mappings(tmp_path / "mappings.yaml", [changed, new])

    result = ok(cli("mappings", "import", str(file), "--dry-run"))

    lines = [line.strip() for line in result.output.splitlines()]
    assert "+ eu-west-1 (new, 2 target(s))" in lines
    assert "~ us-east-1" in lines
    assert diff_lines(result, "-") == ["copy_tags: true"]
    assert diff_lines(result, "+") == ["copy_tags: false"]
    assert "dry run: 2 change(s), nothing written" in lines
    assert all_items(cloud) == before


def test_import_of_a_changed_mapping_prints_the_changed_value_and_writes_it(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2", "--encrypt", "--kms-key-arn", WEST_KEY)
    other_key = WEST_KEY.replace("1111aaaa", "9999ffff")
    file = _write_mappings(
        tmp_path / "mappings.yaml",
        [
            {
                "source_region": "us-east-1",
                "targets": [{"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": other_key}}],
            }
        ],
    )

    result = ok(cli("mappings", "import", str(file)))

    assert "~ us-east-1" in [line.strip() for line in result.output.splitlines()]
    assert diff_lines(result, "-") == [f"kms_key_arn: {WEST_KEY}"]
    assert diff_lines(result, "+") == [f"kms_key_arn: {other_key}"]
    assert "1 change(s)" in flat(result)
    stored = RegionMapping.model_validate(item(cloud, "us-east-1"))
    assert stored.targets[0].encryption.kms_key_arn == other_key


def test_import_keeps_mappings_missing_from_the_file_unless_pruned(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2")
    put("ap-south-1", "--target-region", "us-west-2")
    file = _write_mappings(
        tmp_path / "mappings.yaml", [{"source_region": "us-east-1", "targets": [{"target_region": "us-west-2"}]}]
    )

    result = ok(cli("mappings", "import", str(file)))
    assert f"ap-south-1 (not in {file}, kept; --prune deletes it)" in flat(result)
    assert item(cloud, "ap-south-1") is not None

    result = ok(cli("mappings", "import", str(file), "--prune", "--dry-run"))
    assert "- ap-south-1" in [line.strip() for line in result.output.splitlines()]
    assert item(cloud, "ap-south-1") is not None

    result = ok(cli("mappings", "import", str(file), "--prune"))
    assert "- ap-south-1" in [line.strip() for line in result.output.splitlines()]
    assert "1 change(s)" in flat(result)
    assert item(cloud, "ap-south-1") is None
    assert [i["source_region"] for i in all_items(cloud)] == ["us-east-1"]


@pytest.mark.parametrize("content", ["targets: []\n", "mappings: {us-east-1: x}\n", "- a\n- b\n", ""])
def test_import_of_a_file_without_a_mappings_list_is_refused(cloud, tmp_path, content):
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)
    file = tmp_path / "other.yaml"
    file.write_text(content)
    result = cli("mappings", "import", str(file), "--prune")
    assert result.exit_code == 1, result.output
    assert "expected a 'mappings' list, as written by `replicator mappings export`" in flat(result)
    assert all_items(cloud) == before


# --- check ---------------------------------------------------------------------------------------------------------


def seed(cloud: LocalCloud, **spec: Any) -> ScenarioRunner:
    """Keys, databases and a target account's role, as a scenario declares them (mapping placeholders resolved)."""
    return support.seed(cloud, **spec)


def _dr_west(key: str = "{{key:dr-west}}", usage: str = "all") -> dict[str, Any]:
    return {"target_region": "us-west-2", "encryption": {"enabled": True, "kms_key_arn": key, "key_usage": usage}}


def _vault_eu(**extra: Any) -> dict[str, Any]:
    target = {
        "target_region": "eu-west-1",
        "role_arn": f"{{{{role:{TARGET_ACCOUNT}}}}}",
        "encryption": {"enabled": True, "kms_key_arn": "{{key:vault-eu}}"},
    }
    target.update(extra)
    return target


def check_rows(*args: str, exit_code: int = 0) -> list[dict[str, Any]]:
    """`mappings check --output json`: one row per check; stdout holds the rows alone."""
    result = cli("mappings", "check", *args, "--output", "json")
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert all(set(r) == {"source_region", "target_account", "target_region", "check", "ok", "detail"} for r in rows)
    return rows


def check_of(rows: list[dict[str, Any]], check: str, target_region: str | None = None) -> dict[str, Any]:
    (found,) = [
        r for r in rows if r["check"] == check and (target_region is None or r["target_region"] == target_region)
    ]
    return found


def test_check_passes_when_every_target_would_work(cloud):
    runner = seed(
        cloud,
        databases=[
            database(),
            aurora("reports"),
        ],
        mappings=[
            {
                "source_region": "us-east-1",
                "targets": [_dr_west(), _vault_eu(share_kms_key_arn="{{key:share-east}}")],
            },
        ],
    )

    result = cli("mappings", "check")

    assert result.exit_code == 0, result.output
    text = flat(result)
    assert "every check passed" in result.stderr
    assert "FAIL" not in text
    assert f"us-east-1 -> {SOURCE_ACCOUNT} / us-west-2" in text
    assert f"us-east-1 -> {TARGET_ACCOUNT} / eu-west-1" in text
    assert "would replicate (encrypted" in text

    rows = check_rows()
    assert all(r["ok"] for r in rows)
    assert {(r["target_account"], r["target_region"]) for r in rows} == {
        (SOURCE_ACCOUNT, "us-west-2"),
        (TARGET_ACCOUNT, "eu-west-1"),
    }
    assert check_of(rows, "role")["detail"] == f"{runner.role_arns[TARGET_ACCOUNT]} can be assumed"
    assert check_of(rows, "kms key", "eu-west-1")["detail"] == f"{runner.key_arns['vault-eu']} is enabled in eu-west-1"
    assert check_of(rows, "share key")["detail"] == f"{runner.key_arns['share-east']} is enabled in us-east-1"
    orders = check_of(rows, "instance orders (postgres 16.3)", "us-west-2")
    assert orders["detail"] == "would replicate (encrypted, 1 step(s))"
    reports = check_of(rows, "cluster reports (aurora-postgresql 15.4)", "us-west-2")
    assert reports["detail"].startswith("would replicate (encrypted")


def _failed_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The one failed check (exactly the failure the test is about)."""
    (failed,) = [r for r in rows if not r["ok"]]
    return failed


def test_check_in_a_table_says_how_many_checks_fail_on_stderr(cloud):
    missing_role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/not-created-yet"
    seed(
        cloud,
        databases=[],
        mappings=[
            {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1", "role_arn": missing_role}]}
        ],
    )
    result = cli("mappings", "check")
    assert result.exit_code == 1, result.output
    assert "1 check(s) would fail" in result.stderr
    assert "every check passed" not in result.output
    assert "FAIL" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 120

    lines = ok_or(cli("mappings", "check", "-o", "csv"), 1).stdout.splitlines()
    assert lines[0] == "source_region,target_account,target_region,check,ok,detail"
    assert lines[1].startswith(f"us-east-1,{TARGET_ACCOUNT},eu-west-1,role,false,")


def ok_or(result: Any, exit_code: int) -> Any:
    assert result.exit_code == exit_code, result.output
    return result


def test_check_fails_when_the_target_role_cannot_be_assumed(cloud):
    missing_role = f"arn:aws:iam::{TARGET_ACCOUNT}:role/not-created-yet"
    seed(
        cloud,
        databases=[],
        mappings=[
            {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1", "role_arn": missing_role}]}
        ],
    )
    failed = _failed_check(check_rows(exit_code=1))
    assert (failed["check"], failed["target_account"], failed["target_region"]) == ("role", TARGET_ACCOUNT, "eu-west-1")
    assert failed["detail"].startswith(f"cannot assume role {missing_role}")
    assert "no such role" in failed["detail"]
    assert "create it from target-account-role.yaml" in failed["detail"]


def test_check_fails_when_the_kms_key_does_not_exist_in_the_target_region(cloud):
    runner = seed(cloud, databases=[])
    # the id of a key that exists, but in us-east-1: there is no such key in us-west-2
    elsewhere = runner.key_arns["share-east"].replace(":us-east-1:", ":us-west-2:")
    raw_put(cloud, {"source_region": "us-east-1", "targets": [_dr_west(elsewhere)]})
    failed = _failed_check(check_rows(exit_code=1))
    assert failed["check"] == "kms key"
    assert failed["detail"].startswith(f"KMS key {elsewhere} does not exist in us-west-2")


def test_check_fails_when_the_engine_version_is_not_offered_in_the_target_region(cloud):
    seed(cloud, mappings=[{"source_region": "us-east-1", "targets": [_dr_west()]}])
    cloud.doubles.engine_catalog.unavailable.add(("us-west-2", "postgres", "16.3"))
    failed = _failed_check(check_rows(exit_code=1))
    assert failed["check"] == "instance orders (postgres 16.3)"
    assert failed["detail"] == "postgres 16.3 is not offered in us-west-2"


def test_check_fails_for_an_unencrypted_aurora_cluster_with_key_usage_all(cloud):
    seed(
        cloud,
        databases=[{"id": "reports", "kind": "cluster", "engine": "aurora-postgresql", "engine_version": "15.4"}],
        mappings=[{"source_region": "us-east-1", "targets": [_dr_west(usage="all")]}],
    )
    failed = _failed_check(check_rows(exit_code=1))
    assert failed["check"] == "cluster reports (aurora-postgresql 15.4)"
    assert failed["detail"].startswith("would be refused")
    assert "cannot encrypt a cluster snapshot by copying it" in failed["detail"]
    # the rule names the item's value, and the option that sets it
    assert "set encryption.key_usage to encrypted_only (--key-usage encrypted-only)" in failed["detail"]
    table = cli("mappings", "check")
    assert table.exit_code == 1
    assert "--key-usage encrypted-only" in flat(table)

    # the fix the message names makes the check pass (encrypted_only, the item's spelling, is accepted too)
    key = RegionMapping.model_validate(item(cloud, "us-east-1")).targets[0].encryption.kms_key_arn
    put("us-east-1", "--target-region", "us-west-2", "--kms-key-arn", key, "--key-usage", "encrypted_only", "--yes")
    rows = check_rows()
    assert check_of(rows, "cluster reports (aurora-postgresql 15.4)")["detail"] == (
        "would replicate (unencrypted, 1 step(s))"
    )


def test_check_fails_for_an_encrypted_database_cross_account_without_a_share_key(cloud):
    seed(cloud, mappings=[{"source_region": "us-east-1", "targets": [_vault_eu()]}])
    failed = _failed_check(check_rows(exit_code=1))
    assert failed["check"] == "instance orders (postgres 16.3)"
    assert failed["detail"].startswith("would be refused")
    assert "set share_kms_key_arn to a customer managed KMS key" in failed["detail"]


def test_check_of_a_source_region_resolves_through_the_star_mapping(cloud):
    seed(cloud, mappings=[{"source_region": "*", "targets": [_dr_west()]}])

    result = cli("mappings", "check", "us-east-1")
    assert result.exit_code == 0, result.output
    text = flat(result)
    assert f"us-east-1 -> {SOURCE_ACCOUNT} / us-west-2" in text
    assert "every check passed" in text
    orders = check_of(check_rows("us-east-1"), "instance orders (postgres 16.3)")
    assert (orders["ok"], orders["detail"]) == (True, "would replicate (encrypted, 1 step(s))")

    rows = check_rows("eu-central-1")
    assert {(r["source_region"], r["target_account"], r["target_region"]) for r in rows} == {
        ("eu-central-1", SOURCE_ACCOUNT, "us-west-2")
    }
    assert check_of(rows, "databases")["detail"] == "no databases in eu-central-1 yet"


def test_check_of_a_region_without_mapping_and_without_star_fails(cloud):
    seed(cloud, mappings=[{"source_region": "us-east-1", "targets": [_dr_west()]}])
    result = cli("mappings", "check", "eu-central-1")
    assert result.exit_code == 1, result.output
    assert "no mapping for eu-central-1 and no '*' mapping" in flat(result)


def test_check_of_a_region_that_does_not_exist_is_a_usage_error(cloud):
    result = cli("mappings", "check", "eu-centrall-1")
    assert result.exit_code == 2, result.output
    assert "'eu-centrall-1' is not an AWS region with RDS: did you mean eu-central-1" in flat(result)
    assert "Traceback" not in result.output


def test_check_without_any_mapping_fails(cloud):
    result = cli("mappings", "check")
    assert result.exit_code == 1, result.output
    assert "no mappings to check" in flat(result)
    assert "Traceback" not in result.output


# --- where the tables are, and help --------------------------------------------------------------------------------


def test_a_stack_that_does_not_exist_fails_suggesting_the_table_flags(cloud):
    result = runner.invoke(app, ["--stack-name", "nope", "mappings", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "cannot read the outputs of stack nope" in text
    assert "--mapping-table / --history-table" in text
    assert "Traceback" not in result.output


def test_the_mapping_table_flag_works_without_the_stack(cloud):
    table = cloud.stack.mapping_table
    args = ["--stack-name", "nope", "--mapping-table", table, "mappings"]
    result = runner.invoke(app, [*args, "put", "us-east-1", "--target-region", "us-west-2"])
    assert result.exit_code == 0, result.output
    assert item(cloud, "us-east-1") is not None
    result = runner.invoke(app, [*args, "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"Region mappings ({table})" in flat(result)
    rows = [flat_line(line) for line in result.output.splitlines()]
    assert "us-east-1 this account us-west-2 off - yes kept every snapshot -" in rows


def test_mappings_help_lists_every_subcommand():
    result = runner.invoke(app, ["mappings", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    commands = re.findall(r"^│ (\S+)\s", result.output.split("Commands")[1], flags=re.MULTILINE)
    assert sorted(commands) == sorted(["put", "put-all", "list", "show", "delete", "check", "export", "import"])


def test_put_refuses_a_retention_below_one_naming_the_option(cloud):
    result = cli("mappings", "put", "us-east-1", "--target-region", "us-west-2", "--keep-last", "0")
    assert result.exit_code == 1
    assert "keep_last: Input should be greater than or equal to 1 (option --keep-last)" in flat(result)
    assert region_mappings.mapping_item(cloud.stack.mapping_table, "us-east-1") is None


def test_a_target_in_an_account_the_stack_does_not_allow_is_refused_and_nothing_written(cloud, tmp_path):
    other = "arn:aws:iam::444455556666:role/rds-snapshot-replicator-target"

    put = cli("mappings", "put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", other)

    assert put.exit_code == 1
    text = flat(put)
    assert "target account not allowed, nothing written" in text
    assert "account 444455556666 is not allowed by the stack parameter AllowedTargetAccounts" in text
    assert f"(allowed: {SOURCE_ACCOUNT}, {TARGET_ACCOUNT})" in text
    assert item(cloud, "us-east-1") is None

    file = tmp_path / "mappings.yaml"
    mapping = {"source_region": "us-east-1", "targets": [{"target_region": "eu-west-1", "role_arn": other}]}
    file.write_text(yaml.safe_dump({"mappings": [mapping]}))
    imported = cli("mappings", "import", str(file))
    assert imported.exit_code == 1
    assert "account 444455556666 is not allowed" in flat(imported)
    assert all_items(cloud) == []

    allowed = cli("mappings", "put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE)
    ok(allowed)


def test_a_transfer_key_is_set_with_its_option_and_must_be_in_the_target_region(cloud):
    in_eu = f"arn:aws:kms:eu-west-1:{SOURCE_ACCOUNT}:key/9999aaaa-2222-3333-4444-555566667777"
    base = ["mappings", "put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE]

    ok(cli(*base, "--encrypt", "--kms-key-arn", EU_KEY, "--transfer-kms-key-arn", in_eu))
    assert item(cloud, "us-east-1")["targets"][0]["transfer_kms_key_arn"] == in_eu

    wrong = cli(*base, "--encrypt", "--kms-key-arn", EU_KEY, "--transfer-kms-key-arn", SHARE_KEY, "--replace")
    assert wrong.exit_code == 1
    assert "transfer_kms_key_arn is in us-east-1 but target_region is eu-west-1" in flat(wrong)
    assert "--transfer-kms-key-arn" in flat(wrong)
    assert item(cloud, "us-east-1")["targets"][0]["transfer_kms_key_arn"] == in_eu  # nothing written


# --- selection and RPO ---------------------------------------------------------------------------------------------

PUT_WEST = ["mappings", "put", "us-east-1", "--target-region", "us-west-2"]

# the simple options, and the selection they make: the --include-* options (and --snapshot-types) one include rule,
# every one of them to match; each --exclude-* option (each --exclude-tag) an exclude rule of its own
SELECTIONS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "include-db": (
        ["--include-db", "prod-*", "--include-db", "app-?"],
        {"include": [{"databases": ["prod-*", "app-?"]}]},
    ),
    "exclude-db": (
        ["--exclude-db", "dev-*", "--exclude-db", "tmp-*"],
        {"exclude": [{"databases": ["dev-*", "tmp-*"]}]},
    ),
    "include-tag": (
        ["--include-tag", "env=prod,staging", "--include-tag", "tier"],
        {"include": [{"tags": [{"key": "env", "values": ["prod", "staging"]}, {"key": "tier"}]}]},
    ),
    "exclude-tag": (
        ["--exclude-tag", "backup=none", "--exclude-tag", "scratch"],
        {"exclude": [{"tags": [{"key": "backup", "values": ["none"]}]}, {"tags": [{"key": "scratch"}]}]},
    ),
    "engines": (
        ["--include-engine", "aurora-*", "--include-engine", "postgres", "--exclude-engine", "sqlserver-*"],
        {"include": [{"engines": ["aurora-*", "postgres"]}], "exclude": [{"engines": ["sqlserver-*"]}]},
    ),
    "snapshot-types": (
        ["--snapshot-types", "automated,manual"],
        {"include": [{"snapshot_types": ["automated", "manual"]}]},
    ),
    "exclude-snapshot-types": (
        ["--exclude-snapshot-types", "awsbackup"],
        {"exclude": [{"snapshot_types": ["awsbackup"]}]},
    ),
    "min-interval-hours": (["--min-interval-hours", "12"], {"min_interval_hours": 12}),
    "all together": (
        [
            "--include-db",
            "prod-*",
            "--include-engine",
            "postgres",
            "--include-tag",
            "env=prod",
            "--snapshot-types",
            "automated",
            "--exclude-db",
            "prod-scratch",
            "--exclude-tag",
            "legal-hold=yes",
            "--exclude-tag",
            "temporary",
            "--min-interval-hours",
            "6.5",
        ],
        {
            "include": [
                {
                    "databases": ["prod-*"],
                    "tags": [{"key": "env", "values": ["prod"]}],
                    "engines": ["postgres"],
                    "snapshot_types": ["automated"],
                }
            ],
            "exclude": [
                {"databases": ["prod-scratch"]},
                {"tags": [{"key": "legal-hold", "values": ["yes"]}]},
                {"tags": [{"key": "temporary"}]},
            ],
            "min_interval_hours": 6.5,
        },
    ),
}


def shown_target(region: str = "us-east-1", index: int = 0) -> MappingTarget:
    """A target as `mappings show --json` prints it, read by the model."""
    shown = ok(cli("mappings", "show", region, "--output", "json"))
    return RegionMapping.model_validate(json.loads(shown.stdout)).targets[index]


@pytest.mark.parametrize("case", list(SELECTIONS))
def test_each_selection_option_sets_the_selection_that_show_prints(cloud, case):
    args, expected = SELECTIONS[case]
    result = ok(cli(*PUT_WEST, *args))
    assert "added target this account / us-west-2" in flat(result)
    target = shown_target()
    assert target.selection == Selection.model_validate(expected)
    assert target.rpo_hours is None
    # the YAML show prints the same selection
    shown = yaml.safe_load(ok(cli("mappings", "show", "us-east-1")).output)
    assert Selection.model_validate(shown["targets"][0]["selection"]) == target.selection


def test_the_simple_options_include_when_every_given_option_matches_and_exclude_when_any_does(cloud):
    ok(cli(*PUT_WEST, *SELECTIONS["all together"][0]))
    selection = shown_target().selection
    assert selection is not None

    def facts(database: str = "prod-orders", **changes: Any) -> DatabaseFacts:
        base: dict[str, Any] = {
            "identifier": database,
            "engine": "postgres",
            "tags": {"env": "prod"},
            "snapshot_type": "automated",
        }
        return DatabaseFacts(**{**base, **changes})

    assert selection.refusal(facts()) is None
    # the include rule: every option given must match
    assert "matches no selection.include rule" in (selection.refusal(facts("dev-orders")) or "")
    assert "matches no selection.include rule" in (selection.refusal(facts(engine="mysql")) or "")
    assert "matches no selection.include rule" in (selection.refusal(facts(tags={"env": "test"})) or "")
    assert "matches no selection.include rule" in (selection.refusal(facts(snapshot_type="manual")) or "")
    # any exclude option leaves a snapshot out
    assert (selection.refusal(facts("prod-scratch")) or "").startswith("excluded by selection.exclude[0]")
    held = facts(tags={"env": "prod", "legal-hold": "yes"})
    assert (selection.refusal(held) or "").startswith("excluded by selection.exclude[1]")
    temporary = facts(tags={"env": "prod", "temporary": ""})
    assert (selection.refusal(temporary) or "").startswith("excluded by selection.exclude[2]")
    assert selection.min_interval_hours == 6.5


def test_rpo_hours_is_set_with_its_option_and_listed_with_the_selection(cloud):
    ok(cli(*PUT_WEST, "--rpo-hours", "26", "--include-db", "prod-*", "--exclude-tag", "backup=none"))
    ok(cli("mappings", "put", "eu-west-1", "--target-region", "us-west-2", "--rpo-hours", "1.5"))
    assert shown_target().rpo_hours == 26
    assert shown_target("eu-west-1").rpo_hours == 1.5

    result = ok(cli("mappings", "list"))

    rows = [flat_line(line) for line in result.output.splitlines()]
    assert "eu-west-1 this account us-west-2 off - yes kept every snapshot 1.5 h" in rows
    listed = json.loads(ok(cli("mappings", "list", "-o", "json")).stdout)
    assert [(r["source_region"], r["selection"], r["rpo_hours"]) for r in listed] == [
        ("eu-west-1", None, 1.5),
        ("us-east-1", "include (databases prod-*); exclude (tag backup=none)", 26),
    ]


def test_a_selection_file_sets_a_selection_the_options_cannot_say(cloud, tmp_path):
    selection = {
        "include": [
            {"databases": ["prod-*"], "engines": ["aurora-*"]},
            {"tags": [{"key": "dr", "values": ["yes", "true"]}], "snapshot_types": ["manual"]},
        ],
        "exclude": [{"databases": ["prod-scratch"], "snapshot_types": ["awsbackup"]}],
        "min_interval_hours": 4,
    }
    as_yaml = tmp_path / "selection.yaml"
    as_yaml.write_text(yaml.safe_dump({"selection": selection}))
    ok(cli(*PUT_WEST, "--selection-file", str(as_yaml), "--rpo-hours", "8"))
    target = shown_target()
    assert target.selection == Selection.model_validate(selection)
    assert target.rpo_hours == 8

    # a JSON file holding the block itself works as well
    as_json = tmp_path / "selection.json"
    as_json.write_text(json.dumps({"include": [{"databases": ["orders"]}]}))
    ok(cli(*PUT_WEST, "--selection-file", str(as_json), "--yes"))
    assert shown_target().selection == Selection.model_validate({"include": [{"databases": ["orders"]}]})


def test_a_selection_file_cannot_be_combined_with_the_selection_options(cloud, tmp_path):
    put("us-east-1", "--target-region", "us-west-2")
    before = all_items(cloud)
    file = tmp_path / "selection.yaml"
    file.write_text(yaml.safe_dump({"include": [{"databases": ["orders"]}]}))

    result = cli(*PUT_WEST, "--selection-file", str(file), "--include-db", "prod-*", "--min-interval-hours", "2")

    assert result.exit_code == 2, result.output
    text = flat(result)
    assert "Invalid value for '--selection-file'" in text
    assert "cannot be combined with --include-db, --min-interval-hours" in text
    assert all_items(cloud) == before


SELECTION_REFUSALS = {
    "unknown snapshot type": (
        ["--snapshot-types", "automated,hourly"],
        "target this account / us-west-2: selection.include.0.snapshot_types.1: "
        "Input should be 'automated', 'manual' or 'awsbackup'",
        "--snapshot-types",
    ),
    "unknown excluded snapshot type, after other exclude options": (
        ["--exclude-db", "dev-*", "--exclude-tag", "scratch", "--exclude-snapshot-types", "hourly"],
        "target this account / us-west-2: selection.exclude.2.snapshot_types.0: "
        "Input should be 'automated', 'manual' or 'awsbackup'",
        "--exclude-snapshot-types",
    ),
    "negative rpo": (
        ["--rpo-hours", "-1"],
        "target this account / us-west-2: rpo_hours: Input should be greater than 0",
        "--rpo-hours",
    ),
    "rpo over a year": (
        ["--rpo-hours", "9000"],
        "target this account / us-west-2: rpo_hours: Input should be less than or equal to 8760",
        "--rpo-hours",
    ),
    "zero interval": (
        ["--min-interval-hours", "0"],
        "target this account / us-west-2: selection.min_interval_hours: Input should be greater than 0",
        "--min-interval-hours",
    ),
    "tag without a key": (
        ["--include-db", "prod-*", "--include-tag", "=prod"],
        "target this account / us-west-2: selection.include.0.tags.0.key: String should have at least 1 character",
        "--include-tag",
    ),
    "excluded tag without a key": (
        ["--exclude-tag", "=prod"],
        "target this account / us-west-2: selection.exclude.0.tags.0.key: String should have at least 1 character",
        "--exclude-tag",
    ),
    "pattern too long": (
        ["--include-db", "x" * 256],
        f"target this account / us-west-2: selection.include.0: '{'x' * 256}' is not a pattern (1 to 255 characters)",
        "--include-db",
    ),
}


@pytest.mark.parametrize("case", list(SELECTION_REFUSALS))
def test_an_invalid_selection_or_rpo_is_refused_naming_the_option_and_writes_nothing(cloud, case):
    put("us-east-1", "--target-region", "ap-south-1")
    before = all_items(cloud)
    args, fragment, option = SELECTION_REFUSALS[case]

    result = cli(*PUT_WEST, *args)

    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "invalid mapping, nothing written" in text
    assert f"{fragment} (option {option})" in text
    assert "Traceback" not in result.output
    assert all_items(cloud) == before


def test_an_invalid_selection_file_is_refused_naming_the_option(cloud, tmp_path):
    file = tmp_path / "selection.yaml"
    file.write_text(yaml.safe_dump({"selection": {"include": [{"snapshot_types": ["hourly"]}], "sometimes": 1}}))
    result = cli(*PUT_WEST, "--selection-file", str(file))
    assert result.exit_code == 1, result.output
    text = flat(result)
    assert "target this account / us-west-2: selection.include.0.snapshot_types.0: Input should be" in text
    assert "(option --selection-file)" in text
    assert (
        "target this account / us-west-2: selection.sometimes: Extra inputs are not permitted (option --selection-file)"
        in text
    )
    assert all_items(cloud) == []

    file.write_text("- just\n- a list\n")
    result = cli(*PUT_WEST, "--selection-file", str(file))
    assert result.exit_code == 1, result.output
    assert "expected a selection (a mapping with include / exclude / min_interval_hours)" in flat(result)
    assert all_items(cloud) == []


def test_put_replacing_a_target_says_which_settings_the_new_one_lacks(cloud):
    first = [*PUT_WEST, "--retention-days", "35", "--rpo-hours", "24", "--include-db", "prod-*"]
    ok(cli(*first))

    # the same options again: nothing is lost, nothing said
    again = ok(cli(*first))
    assert "replaced target this account / us-west-2" in flat(again)
    assert "note:" not in flat(again)

    # put replaces the target whole (as it always did for retention): the output names what is dropped
    result = ok(cli(*PUT_WEST, "--no-copy-tags", "--yes"))
    assert [line.strip() for line in result.stderr.splitlines()[:5]] == [
        "put replaces target this account / us-west-2 of us-east-1 whole:",
        "~ copy_tags: true -> false",
        "- retention_days: 35 (dropped)",
        "- selection: include (databases prod-*) (dropped)",
        "- rpo_hours: 24 (dropped)",
    ]
    lines = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert lines == [
        "note: the replaced target had retention_days 35; rpo_hours 24; selection (include (databases prod-*)), "
        "which the new one does not have (put it again with their options to keep them)"
    ]
    target = shown_target()
    assert (target.retention_days, target.rpo_hours, target.selection) == (None, None, None)

    # a new target (another region) replaces nothing: no note
    added = ok(cli("mappings", "put", "us-east-1", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE))
    assert "note:" not in flat(added)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_then_import_round_trips_a_complex_selection_and_rpo(cloud, tmp_path, suffix):
    selection = {
        "include": [
            {"databases": ["prod-*", "billing"], "engines": ["aurora-*"], "snapshot_types": ["automated", "manual"]},
            {"tags": [{"key": "dr", "values": ["yes", "tier-?"]}, {"key": "owner"}]},
        ],
        "exclude": [{"databases": ["prod-scratch"]}, {"tags": [{"key": "legal-hold"}], "snapshot_types": ["manual"]}],
        "min_interval_hours": 6.5,
    }
    selection_file = tmp_path / "selection.yaml"
    selection_file.write_text(yaml.safe_dump(selection))
    ok(cli(*PUT_WEST, "--selection-file", str(selection_file), "--rpo-hours", "26.5", "--keep-last", "3"))
    ok(cli("mappings", "put-all", "--target-region", "eu-west-1", "--role-arn", TARGET_ROLE, "--rpo-hours", "48"))
    exported = all_items(cloud)
    file = tmp_path / f"mappings{suffix}"
    ok(cli("mappings", "export", str(file)))

    empty_table(cloud)
    result = ok(cli("mappings", "import", str(file)))
    assert "2 change(s)" in flat(result)

    assert all_items(cloud) == exported
    target = shown_target()
    assert target.selection == Selection.model_validate(selection)
    assert (target.rpo_hours, target.keep_last) == (26.5, 3)
    assert shown_target("*").rpo_hours == 48
    # and importing it again is no change at all
    assert "0 change(s)" in flat(ok(cli("mappings", "import", str(file))))
