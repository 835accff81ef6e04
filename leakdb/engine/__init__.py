"""The data model: the keyspace and its databases, expiry, change records, one module per value type
that needs more than a builtin (sorted sets, streams), glob matching, numbers and memory accounting.

It knows no socket, no wire format, no backend and no command table.
"""
