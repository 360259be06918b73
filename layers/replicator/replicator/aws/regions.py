"""The regions this account can use (for a "*" mapping, which stands for every region without its own mapping)."""

from __future__ import annotations

from functools import cache

import botocore.session

from .sessions import home_client


def enabled_regions() -> list[str]:
    """The regions enabled for this account (opted in, or not needing it), sorted."""
    answer = home_client("ec2").describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in answer["Regions"] if r.get("OptInStatus") != "not-opted-in")


@cache
def rds_regions() -> frozenset[str]:
    """Every region botocore knows RDS in, across its partitions (aws, aws-cn, aws-us-gov...): its endpoint data, no
    call made."""
    session = botocore.session.get_session()
    found: set[str] = set()
    for partition in session.get_available_partitions():
        found |= set(session.get_available_regions("rds", partition_name=partition))
    return frozenset(found)
