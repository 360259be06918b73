"""What AWS refused lately, per route: a single-step cross-account, cross-region copy refused on (kind, source
region, target region) is not tried again for a day, so that the next replications take the staging path at once.
One item per route in the copy-slots table (pool `route#<kind>#<source region>#<target region>`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..clock import utc_now
from .sessions import dynamodb_table

REMEMBERED = timedelta(days=1)


def _key(kind: str, source_region: str, target_region: str) -> dict[str, str]:
    return {"pool": f"route#{kind}#{source_region}#{target_region}", "entry": "single-step-refused"}


def remember_single_step_refused(table_name: str, kind: str, source_region: str, target_region: str, why: str) -> None:
    dynamodb_table(table_name).update_item(
        Key=_key(kind, source_region, target_region),
        UpdateExpression="SET refused_at = :at, reason = :why",
        ExpressionAttributeValues={":at": utc_now().isoformat(), ":why": why[:1000]},
    )


def single_step_refused_lately(
    table_name: str, kind: str, source_region: str, target_region: str, now: datetime | None = None
) -> bool:
    item = dynamodb_table(table_name).get_item(Key=_key(kind, source_region, target_region)).get("Item")
    if not item:
        return False
    return (now or utc_now()) - datetime.fromisoformat(str(item["refused_at"])) < REMEMBERED
