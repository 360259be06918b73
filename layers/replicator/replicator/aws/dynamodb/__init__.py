"""DynamoDB access, one module per kind of item, named by what it holds (the template's three tables):

MappingTable    region_mappings       region mappings (read through a cached provider; written by the CLI)
HistoryTable    replication_records   replications: plan, progress, outcome; the database and unsettled indexes
                restore_test_records  restore tests (`record_type` restore-test; the sparse restore-tests index)
CopySlotsTable  slot_pools            copy slots per destination pool, and the replications waiting for one
                lineage_bases         per source database and destination, the copy kept as the next copy's base
"""
