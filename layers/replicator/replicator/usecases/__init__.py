"""The replicator's use cases, one module each; the Lambda handlers call exactly one of them, the CLI several.

Replication (the start function, then the replication state machine's tasks, each named as its task):
start              a snapshot event -> a plan per mapping target, recorded, an execution started (no other side effect)
guard              what every task does first: its input is the replicator's, and the stored plan is one it would make
slots              copy slots (the RDS copy quota): take, wait in a pool's queue (AcquireSlot), give back, hand over
slot_granted       SlotGranted: a vault's coordinator granted a slot of its shared pool; resume the replication
run_step           RunStep: shares and the next copy, from the stored plan
check_copy         CheckCopy: the copy in progress, and the progress recorded
finish             FinishReplication: verify the replica, clean up, record the outcome
cleanup            removing what a replication made along the way (shares, intermediate and unfinished copies)
outcomes           recording and publishing outcomes

Scheduled, and from the CLI:
prune              deleting replicas outside their target's retention
reconcile          repairing what broke: executions ended without an outcome, leaked slots, failed cleanups
coverage           every mapped database on every target, with its newest replica and the RPO
restore_schedule   which replicas are due a restore test; their plans, records and executions
restore_test       RunRestoreTest: one restore test a stage further (restore, wait, verify, clean up, record)
restore_leftovers  the reconciler's part for restore tests
reindex            once after an upgrade: the history's index attributes for older records

In a vault account (coordinator.yaml):
grant_slots        GrantSlots: the shared copy-slot pool's free slots, fairly between workload accounts
"""
