"""Checks at the door: values the AWS CLI would refuse are refused before anything is read or written, with the
option named and the fix (a near miss suggested)."""

from __future__ import annotations

import difflib

import typer

from replicator.aws.regions import rds_regions as known_regions
from replicator.mapping import ALL_REGIONS


def region_problem(value: str) -> str | None:
    """Why `value` is not a region RDS runs in (None: it is)."""
    if value in known_regions():
        return None
    near = sorted(
        difflib.get_close_matches(value, sorted(known_regions()), n=3),
        key=lambda region: _edits(value, region),
    )[:2]
    hint = f": did you mean {' or '.join(near)}?" if near else " (see `aws ec2 describe-regions`)"
    return f"'{value}' is not an AWS region with RDS{hint}"


def region(value: str | None) -> str | None:
    """A typer callback checking a region option (None passes: the option was not given); typer names the option
    in its message."""
    if value is None:
        return None
    if (problem := region_problem(value)) is not None:
        raise typer.BadParameter(problem)
    return value


def source_region(value: str) -> str:
    """A source region, or "*" (the mapping for every region without its own)."""
    if value == ALL_REGIONS:
        return value
    if (problem := region_problem(value)) is not None:
        raise typer.BadParameter(problem)
    return value


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: the closest suggestion first (us-eest-1: us-east-1 before us-west-1)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]
