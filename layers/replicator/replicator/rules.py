"""The encryption rules a replication must obey, as pure functions.

AWS (and the product) require: a replica of an encrypted snapshot is always encrypted; an unencrypted Aurora cluster
snapshot cannot be encrypted by copying it; an unencrypted DB instance snapshot can be.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mapping import Encryption, KeyUsage
from .snapshots import SnapshotKind


class ReplicationRefused(Exception):
    """A replication that must not start; `reason` tells a human what to change."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(frozen=True)
class EncryptionDecision:
    encrypt: bool
    kms_key_arn: str | None


def decide_encryption(kind: SnapshotKind, source_encrypted: bool, encryption: Encryption) -> EncryptionDecision:
    """Whether the replica is encrypted, and with which key; ReplicationRefused where no valid copy exists."""
    if source_encrypted:
        if not encryption.enabled or encryption.kms_key_arn is None:
            raise ReplicationRefused(
                "the source snapshot is encrypted but encryption is disabled on the mapping target; set "
                "encryption.enabled to true and encryption.kms_key_arn to a key in the target region "
                "(a replica of an encrypted snapshot is never left unencrypted)",
                field="encryption.enabled",
            )
        return EncryptionDecision(encrypt=True, kms_key_arn=encryption.kms_key_arn)
    if not encryption.enabled or encryption.key_usage is KeyUsage.ENCRYPTED_ONLY:
        return EncryptionDecision(encrypt=False, kms_key_arn=None)
    if kind is SnapshotKind.CLUSTER:
        raise ReplicationRefused(
            "the source Aurora cluster snapshot is unencrypted and AWS cannot encrypt a cluster snapshot by copying "
            "it; set encryption.key_usage to encrypted_only (or disable encryption) for this target",
            field="encryption.key_usage",
        )
    return EncryptionDecision(encrypt=True, kms_key_arn=encryption.kms_key_arn)
