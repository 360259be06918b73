"""The reindex use case (`replicator reindex`, once after upgrading to a version with the history's indexes): records
written before the indexes existed get their attributes: the database index's from their stored plan (so that the
coverage audit and min_interval_hours see the replicas made before the upgrade), and the unsettled index's when the
reconciler still has something to do for them. One scan of the history, run by hand; idempotent."""

from __future__ import annotations

from pydantic import BaseModel

from ..aws.dynamodb import replication_records


class ReindexReport(BaseModel):
    indexed: int = 0  # records given the index's attributes
    already: int = 0  # records that had them
    without_database: int = 0  # records no plan ties to a database (snapshot-level outcomes, records older than plans)
    unsettled: int = 0  # records put in the unsettled index (running, or a cleanup or an event left to do)


def reindex_history(history_table: str, dry_run: bool = False) -> ReindexReport:
    report = ReindexReport()
    for record in replication_records.scan_records(history_table):
        if record.unsettled and (dry_run or replication_records.mark_unsettled(history_table, record.replication_id)):
            report.unsettled += 1
        if record.database_target:
            report.already += 1
            continue
        fields = record.index_fields()
        if fields is None:
            report.without_database += 1
            continue
        if dry_run or replication_records.set_index_fields(history_table, record.replication_id, fields):
            report.indexed += 1
        else:
            report.already += 1
    return report
