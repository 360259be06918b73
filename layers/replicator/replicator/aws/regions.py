"""The regions this account can use (for a "*" mapping, which stands for every region without its own mapping)."""

from __future__ import annotations

from .sessions import home_client


def enabled_regions() -> list[str]:
    """The regions enabled for this account (opted in, or not needing it), sorted."""
    answer = home_client("ec2").describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in answer["Regions"] if r.get("OptInStatus") != "not-opted-in")
