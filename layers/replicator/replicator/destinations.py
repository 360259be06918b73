"""Where replicas may go (pure): the accounts the stack allows (AllowedTargetAccounts, AllowedOrganizationId).

The replicator's own account is always allowed. With an organization id, accounts outside the list are left to IAM:
the replicator's role may assume roles only in that organization (aws:ResourceOrgID), which this code cannot check
without reading the organization.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

ACCOUNT_ID = re.compile(r"^\d{12}$")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")


def parse_accounts(text: str) -> frozenset[str]:
    """A comma list of account ids ('' = none); ValueError naming any entry that is not a 12-digit account id."""
    accounts = {part.strip() for part in text.split(",") if part.strip()}
    bad = sorted(a for a in accounts if not ACCOUNT_ID.match(a))
    if bad:
        raise ValueError(f"not 12-digit AWS account ids: {', '.join(bad)}")
    return frozenset(accounts)


class AllowedDestinations(BaseModel):
    model_config = ConfigDict(frozen=True)

    own_account: str
    accounts: frozenset[str] = frozenset()
    organization_id: str | None = None

    def refusal(self, account: str) -> str | None:
        """Why replicas may not go to `account`, or None when they may (as far as can be known here)."""
        if not ACCOUNT_ID.match(account):
            return f"'{account}' is not a 12-digit AWS account id"
        if account == self.own_account or account in self.accounts:
            return None
        if self.organization_id:
            return None  # IAM decides: the replicator may assume roles only in its organization
        allowed = ", ".join(sorted({self.own_account, *self.accounts}))
        return (
            f"account {account} is not allowed by the stack parameter AllowedTargetAccounts (allowed: {allowed}); "
            "add it there (and redeploy) or remove this target"
        )

    def describe(self) -> str:
        parts = [", ".join(sorted({self.own_account, *self.accounts}))]
        if self.organization_id:
            parts.append(f"and accounts of organization {self.organization_id}")
        return " ".join(parts)
