"""RDS's DescribeDBEngineVersions (the EngineVersionCatalog)."""

from __future__ import annotations

from contextlib import ExitStack
from unittest.mock import patch

from moto.core.responses import ActionResult
from moto.rds.responses import RDSResponse


class EngineVersionCatalog:
    """RDS's DescribeDBEngineVersions says whether an engine version is offered in a region: moto 5.2.5 does not
    implement it. This answers from a catalog in which every engine version is offered, except those declared
    unavailable in a region (`unavailable`)."""

    def __init__(self) -> None:
        self.unavailable: set[tuple[str, str, str]] = set()  # (region, engine, version)

    def offered(self, region: str, engine: str | None, version: str | None) -> bool:
        return (region, engine or "", version or "") not in self.unavailable

    def install(self, patches: ExitStack) -> None:
        """Adds RDSResponse.describe_db_engine_versions (moto has none: it goes again when the patches are undone)."""
        catalog = self

        def describe_db_engine_versions(response: RDSResponse) -> ActionResult:
            engine = response.params.get("Engine")
            version = response.params.get("EngineVersion")
            found = []
            if catalog.offered(response.region, engine, version):
                found.append({"Engine": engine, "EngineVersion": version, "DBEngineDescription": f"{engine} (local)"})
            return ActionResult({"DBEngineVersions": found})

        patches.enter_context(
            patch.object(RDSResponse, "describe_db_engine_versions", describe_db_engine_versions, create=True)
        )
