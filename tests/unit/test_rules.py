"""The encryption rules: the full table of source kind x source encryption x mapping encryption."""

from __future__ import annotations

import itertools

import pytest

from replicator.mapping import Encryption, KeyUsage
from replicator.rules import EncryptionDecision, ReplicationRefused, decide_encryption
from replicator.snapshots import SnapshotKind

KEY = "arn:aws:kms:eu-west-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"

INSTANCE, CLUSTER = SnapshotKind.INSTANCE, SnapshotKind.CLUSTER
ALL, ENCRYPTED_ONLY = KeyUsage.ALL, KeyUsage.ENCRYPTED_ONLY
ENCRYPTED, PLAIN = True, False
ON, OFF = True, False

ENCRYPT = EncryptionDecision(encrypt=True, kms_key_arn=KEY)
KEEP_PLAIN = EncryptionDecision(encrypt=False, kms_key_arn=None)


def _encryption(enabled: bool, usage: KeyUsage) -> Encryption:
    return Encryption(enabled=enabled, kms_key_arn=KEY if enabled else None, key_usage=usage)


def _id(kind: SnapshotKind, source_encrypted: bool, enabled: bool, usage: KeyUsage) -> str:
    return "-".join([kind.value, "encrypted" if source_encrypted else "plain", "on" if enabled else "off", usage.value])


# (kind, source encrypted, encryption enabled, key usage) -> EncryptionDecision, or the field a refusal names
TABLE: list[tuple[SnapshotKind, bool, bool, KeyUsage, EncryptionDecision | str]] = [
    (INSTANCE, ENCRYPTED, ON, ALL, ENCRYPT),
    (INSTANCE, ENCRYPTED, ON, ENCRYPTED_ONLY, ENCRYPT),
    (INSTANCE, ENCRYPTED, OFF, ALL, "encryption.enabled"),
    (INSTANCE, ENCRYPTED, OFF, ENCRYPTED_ONLY, "encryption.enabled"),
    (INSTANCE, PLAIN, ON, ALL, ENCRYPT),
    (INSTANCE, PLAIN, ON, ENCRYPTED_ONLY, KEEP_PLAIN),
    (INSTANCE, PLAIN, OFF, ALL, KEEP_PLAIN),
    (INSTANCE, PLAIN, OFF, ENCRYPTED_ONLY, KEEP_PLAIN),
    (CLUSTER, ENCRYPTED, ON, ALL, ENCRYPT),
    (CLUSTER, ENCRYPTED, ON, ENCRYPTED_ONLY, ENCRYPT),
    (CLUSTER, ENCRYPTED, OFF, ALL, "encryption.enabled"),
    (CLUSTER, ENCRYPTED, OFF, ENCRYPTED_ONLY, "encryption.enabled"),
    (CLUSTER, PLAIN, ON, ALL, "encryption.key_usage"),
    (CLUSTER, PLAIN, ON, ENCRYPTED_ONLY, KEEP_PLAIN),
    (CLUSTER, PLAIN, OFF, ALL, KEEP_PLAIN),
    (CLUSTER, PLAIN, OFF, ENCRYPTED_ONLY, KEEP_PLAIN),
]


def test_table_covers_every_combination() -> None:
    combos = {row[:4] for row in TABLE}
    assert combos == set(itertools.product(SnapshotKind, [True, False], [True, False], KeyUsage))
    assert len(TABLE) == len(combos)


@pytest.mark.parametrize(
    ("kind", "source_encrypted", "enabled", "usage", "expected"),
    [pytest.param(*row, id=_id(*row[:4])) for row in TABLE],
)
def test_decide_encryption(
    kind: SnapshotKind, source_encrypted: bool, enabled: bool, usage: KeyUsage, expected: EncryptionDecision | str
) -> None:
    encryption = _encryption(enabled, usage)
    if isinstance(expected, str):
        with pytest.raises(ReplicationRefused) as caught:
            decide_encryption(kind, source_encrypted, encryption)
        assert caught.value.field == expected
        assert caught.value.reason == str(caught.value)
        assert expected in caught.value.reason  # the reason tells which setting to change
    else:
        assert decide_encryption(kind, source_encrypted, encryption) == expected


def _decide(
    kind: SnapshotKind, source_encrypted: bool, encryption: Encryption
) -> EncryptionDecision | ReplicationRefused:
    try:
        return decide_encryption(kind, source_encrypted, encryption)
    except ReplicationRefused as refused:
        return refused


ALL_COMBOS = [
    pytest.param(kind, enc, enabled, usage, id=_id(kind, enc, enabled, usage))
    for kind, enc, enabled, usage in itertools.product(SnapshotKind, [True, False], [True, False], KeyUsage)
]


@pytest.mark.parametrize(("kind", "source_encrypted", "enabled", "usage"), ALL_COMBOS)
def test_invariants(kind: SnapshotKind, source_encrypted: bool, enabled: bool, usage: KeyUsage) -> None:
    """Never an unencrypted replica of an encrypted source; never an encrypted copy of an unencrypted cluster;
    an encrypted replica always names the mapping's key, an unencrypted one names none."""
    decision = _decide(kind, source_encrypted, _encryption(enabled, usage))
    if isinstance(decision, ReplicationRefused):
        assert decision.field in {"encryption.enabled", "encryption.key_usage"}
        return
    if source_encrypted:
        assert decision.encrypt
    if kind is SnapshotKind.CLUSTER and not source_encrypted:
        assert not decision.encrypt
    if not enabled:
        assert not decision.encrypt
    assert decision.kms_key_arn == (KEY if decision.encrypt else None)


@pytest.mark.parametrize(
    ("kind", "source_encrypted", "expected"),
    [
        pytest.param(INSTANCE, ENCRYPTED, "encryption.enabled", id="instance-encrypted-refused"),
        pytest.param(CLUSTER, ENCRYPTED, "encryption.enabled", id="cluster-encrypted-refused"),
        pytest.param(INSTANCE, PLAIN, KEEP_PLAIN, id="instance-plain-stays-plain"),
        pytest.param(CLUSTER, PLAIN, KEEP_PLAIN, id="cluster-plain-stays-plain"),
    ],
)
def test_disabled_encryption_ignores_a_configured_key(
    kind: SnapshotKind, source_encrypted: bool, expected: EncryptionDecision | str
) -> None:
    encryption = Encryption(enabled=False, kms_key_arn=KEY)
    if isinstance(expected, str):
        with pytest.raises(ReplicationRefused) as caught:
            decide_encryption(kind, source_encrypted, encryption)
        assert caught.value.field == expected
    else:
        assert decide_encryption(kind, source_encrypted, encryption) == expected


@pytest.mark.parametrize("kind", list(SnapshotKind), ids=[k.value for k in SnapshotKind])
def test_enabled_without_key_is_refused_for_an_encrypted_source(kind: SnapshotKind) -> None:
    """Defensive branch: an Encryption that bypassed validation (enabled, no key) never yields a keyless copy."""
    encryption = Encryption.model_construct(enabled=True, kms_key_arn=None, key_usage=KeyUsage.ALL)
    with pytest.raises(ReplicationRefused) as caught:
        decide_encryption(kind, True, encryption)

    assert caught.value.field == "encryption.enabled"


@pytest.mark.parametrize(
    ("args", "reason", "field"),
    [
        pytest.param(("nope",), "nope", None, id="reason-only"),
        pytest.param(("nope", "target_region"), "nope", "target_region", id="reason-and-field"),
    ],
)
def test_replication_refused_carries_reason_and_field(args: tuple, reason: str, field: str | None) -> None:
    refused = ReplicationRefused(*args)

    assert refused.reason == reason
    assert str(refused) == reason
    assert refused.field == field
