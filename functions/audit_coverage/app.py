"""Scheduled: does every selected database have a replica younger than its target's RPO? Publishes per target
CoveredDatabases, UncoveredDatabases and OldestReplicaAgeSeconds (the RPO alarm's metrics) and logs each breach."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from replicator.observability import logger, metrics, tracer
from replicator.settings import get_settings
from replicator.usecases.coverage import AuditIncomplete, audit_coverage, publish_coverage


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    report = audit_coverage(settings.mapping_table, settings.history_table, settings.account_id)
    publish_coverage(report)
    for row in report.breaches:
        logger.warning("RPO breached", extra={"coverage": row.model_dump(mode="json", exclude_none=True)})
    summary = {
        "databases": len({(r.source_region, r.database) for r in report.rows}),
        "breaches": len(report.breaches),
        "targets": [t.model_dump(mode="json") for t in report.targets],
        "index_queries": report.index_queries,
        "read_units": report.read_units,
    }
    logger.info("coverage audited", extra=summary)
    if report.problems:
        # what could be audited was published; the rest fails the run, so that the audit's alarm says it
        raise AuditIncomplete("; ".join(report.problems))
    return summary
