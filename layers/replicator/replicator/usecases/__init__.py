"""The replicator's use cases, one module each; the Lambda handlers call exactly one of them.

start       a snapshot event -> a plan per mapping target, recorded, and an execution started (no other side effect)
slots       copy slots (the RDS copy quota): take, wait in a pool's queue (AcquireSlot), give back, hand over
run_step    the state machine's RunStep: shares and the next copy, from the stored plan
check_copy  the state machine's CheckCopy: the copy in progress, and the progress recorded
finish      verify the replica, clean up what the replication made, record the outcome
guard       what every task does first: its input is the replicator's, and the stored plan is one it would make
outcomes    recording and publishing outcomes
prune       deleting replicas outside their target's retention
"""
