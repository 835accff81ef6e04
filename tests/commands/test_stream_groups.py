"""Stream reads and consumer groups (XREAD, XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM,
XINFO, XSETID) against a real redis-server: every option and error from a common starting state,
then the state both servers are left in, byte for byte in RESP2 and RESP3 (clock readings compared
within the test's running time, see stream_oracle.py); multi-step scenarios for Redis 7.0's
entries-read and lag; the radix-tree figures of XINFO; generic key commands on streams with groups.
"""

from __future__ import annotations

import pytest
from stream_oracle import Pair, parse

MAX = "18446744073709551615"

# Five entries; group g has alice owning 1-1 and 2-1 (2-1 delivered long ago, at time 1), bob owning
# 3-1, carol owning nothing; group "empty" starts at the end, "late" at 3-1 with a read counter.
SETUP = [
    ("XADD", "s", "1-1", "a", "1"),
    ("XADD", "s", "2-1", "b", "2"),
    ("XADD", "s", "3-1", "c", "3", "d", "4"),
    ("XADD", "s", "4-1", "e", "5"),
    ("XADD", "s", "5-1", "f", "6"),
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XGROUP", "CREATE", "s", "empty", "$"),
    ("XGROUP", "CREATE", "s", "late", "3-1", "ENTRIESREAD", "3"),
    ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "s", ">"),
    ("XCLAIM", "s", "g", "alice", "0", "2-1", "TIME", "1", "JUSTID"),
    ("XGROUP", "CREATECONSUMER", "s", "g", "carol"),
    ("XADD", "other", "1-1", "x", "y"),
    ("SET", "str", "x"),
]

# What a case leaves behind: FULL shows entries, counters, groups, PELs and consumers; XPENDING and
# XINFO CONSUMERS the idle times derived from them.
STATE = [
    ("XINFO", "STREAM", "s", "FULL"),
    ("XINFO", "CONSUMERS", "s", "g"),
    ("XPENDING", "s", "g", "-", "+", "100"),
    ("TYPE", "s"),
    ("EXISTS", "fresh"),
]

OLD = "1000000000000"  # an idle time (31 years) only the entry delivered at time 1 has

CASES = [
    # XGROUP CREATE
    ("XGROUP", "CREATE", "s", "g", "0"),
    ("XGROUP", "CREATE", "s", "new", "0"),
    ("XGROUP", "CREATE", "s", "new", "$"),
    ("XGROUP", "CREATE", "s", "new", "2-1"),
    ("XGROUP", "CREATE", "s", "new", "9"),
    ("XGROUP", "CREATE", "s", "new", f"{MAX}-{MAX}"),
    ("XGROUP", "CREATE", "s", "new", "0", "ENTRIESREAD", "5"),
    ("XGROUP", "CREATE", "s", "new", "4-1", "ENTRIESREAD", "-1"),
    ("XGROUP", "CREATE", "s", "new", "4-1", "ENTRIESREAD", "-2"),
    ("XGROUP", "CREATE", "s", "new", "4-1", "ENTRIESREAD", "x"),
    ("XGROUP", "CREATE", "s", "new", "4-1", "ENTRIESREAD"),
    ("XGROUP", "CREATE", "s", "new", "4-1", "foo"),
    ("XGROUP", "CREATE", "s", "new", "bad"),
    ("XGROUP", "CREATE", "s", "new", "+"),
    ("XGROUP", "CREATE", "s", "new", "-"),
    ("XGROUP", "CREATE", "s", "new", "1-*"),
    ("XGROUP", "CREATE", "s", "new", "0", "MKSTREAM"),
    ("XGROUP", "CREATE", "s", "new", "0", "MKSTREAM", "ENTRIESREAD", "2"),
    ("XGROUP", "CREATE", "s", "new", "0", "MKSTREAM", "ENTRIESREAD", "1", "MKSTREAM"),
    ("XGROUP", "CREATE", "s", "new", "0", "1", "2", "3"),
    ("XGROUP", "create", "s", "new", "0", "mkstream", "mkstream", "mkstream", "mkstream"),
    ("XGROUP", "CREATE", "fresh", "new", "0"),
    ("XGROUP", "CREATE", "fresh", "new", "$", "MKSTREAM"),
    ("XGROUP", "CREATE", "fresh", "new", "7-7", "MKSTREAM"),
    ("XGROUP", "CREATE", "fresh", "new", "bad", "MKSTREAM"),
    ("XGROUP", "CREATE", "fresh", "new", "0", "MKSTREAM", "MKSTREAM", "MKSTREAM", "MKSTREAM"),
    ("XGROUP", "CREATE", "str", "new", "0"),
    ("XGROUP", "CREATE", "str", "new", "0", "MKSTREAM"),
    ("XGROUP", "CREATE", "str", "new", "0", "foo"),
    ("XGROUP", "CREATE", "s", "new"),
    ("XGROUP", "CREATE", "s"),
    # XGROUP SETID
    ("XGROUP", "SETID", "s", "g", "0"),
    ("XGROUP", "SETID", "s", "g", "$"),
    ("XGROUP", "SETID", "s", "g", "3"),
    ("XGROUP", "SETID", "s", "g", "-"),
    ("XGROUP", "SETID", "s", "g", "+"),
    ("XGROUP", "SETID", "s", "g", "bad"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "5"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "-1"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "-3"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "x"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "2"),
    ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"),
    ("XGROUP", "SETID", "s", "g", "0", "FOO", "5"),
    ("XGROUP", "SETID", "s", "g", "0", "MKSTREAM"),
    ("XGROUP", "SETID", "s", "g", "bad", "FOO", "5"),
    ("XGROUP", "SETID", "s", "nosuch", "bad", "FOO", "5"),
    ("XGROUP", "SETID", "s", "nosuch", "0"),
    ("XGROUP", "SETID", "fresh", "g", "0"),
    ("XGROUP", "SETID", "fresh", "g", "0", "ENTRIESREAD", "x"),
    ("XGROUP", "SETID", "str", "g", "0"),
    ("XGROUP", "SETID", "s", "g"),
    # XGROUP DESTROY, CREATECONSUMER, DELCONSUMER, HELP, unknown
    ("XGROUP", "DESTROY", "s", "g"),
    ("XGROUP", "DESTROY", "s", "nosuch"),
    ("XGROUP", "DESTROY", "fresh", "g"),
    ("XGROUP", "DESTROY", "str", "g"),
    ("XGROUP", "DESTROY", "s", "g", "x"),
    ("XGROUP", "CREATECONSUMER", "s", "g", "dave"),
    ("XGROUP", "CREATECONSUMER", "s", "g", "alice"),
    ("XGROUP", "CREATECONSUMER", "s", "nosuch", "dave"),
    ("XGROUP", "CREATECONSUMER", "fresh", "g", "dave"),
    ("XGROUP", "CREATECONSUMER", "s", "g"),
    ("XGROUP", "DELCONSUMER", "s", "g", "alice"),
    ("XGROUP", "DELCONSUMER", "s", "g", "carol"),
    ("XGROUP", "DELCONSUMER", "s", "g", "nobody"),
    ("XGROUP", "DELCONSUMER", "s", "nosuch", "alice"),
    ("XGROUP", "DELCONSUMER", "str", "g", "alice"),
    ("XGROUP", "HELP"),
    ("XGROUP", "help"),
    ("XGROUP", "HELP", "x"),
    ("XGROUP", "FOO"),
    ("XGROUP", "FOO", "s", "g", "x"),
    ("XGROUP",),
    # XREAD
    ("XREAD", "STREAMS", "s", "0"),
    ("XREAD", "STREAMS", "s", "2-1"),
    ("XREAD", "STREAMS", "s", "2"),
    ("XREAD", "STREAMS", "s", "$"),
    ("XREAD", "STREAMS", "s", "5-1"),
    ("XREAD", "STREAMS", "s", f"{MAX}-{MAX}"),
    ("XREAD", "COUNT", "2", "STREAMS", "s", "0"),
    ("XREAD", "COUNT", "0", "STREAMS", "s", "0"),
    ("XREAD", "COUNT", "-5", "STREAMS", "s", "0"),
    ("XREAD", "COUNT", "x", "STREAMS", "s", "0"),
    ("XREAD", "COUNT", "1", "COUNT", "3", "STREAMS", "s", "0"),
    ("XREAD", "COUNT", "1", "STREAMS", "s", "other", "0", "0"),
    ("XREAD", "STREAMS", "s", "s", "0", "4-1"),
    ("XREAD", "STREAMS", "fresh", "s", "$", "4"),
    ("XREAD", "STREAMS", "fresh", "0"),
    ("XREAD", "STREAMS", "s", "str", "0", "0"),
    ("XREAD", "STREAMS", "s", "str", "bad", "0"),
    ("XREAD", "STREAMS", "str", "s", "0", "bad"),
    ("XREAD", "STREAMS", "s", "bad"),
    ("XREAD", "STREAMS", "s", "+"),
    ("XREAD", "STREAMS", "s", "-"),
    ("XREAD", "STREAMS", "s", "1-*"),
    ("XREAD", "STREAMS", "s", ">"),
    ("XREAD", "STREAMS", "s", "0", "1"),
    ("XREAD", "STREAMS", "s"),
    ("XREAD", "COUNT", "1", "STREAMS"),
    ("XREAD", "FOO", "STREAMS", "s", "0"),
    ("XREAD", "GROUP", "g", "alice", "STREAMS", "s", "0"),
    ("XREAD", "NOACK", "STREAMS", "s", "0"),
    ("XREAD", "BLOCK", "x", "STREAMS", "s", "0"),
    ("XREAD", "BLOCK", "1.5", "STREAMS", "s", "0"),
    ("XREAD", "BLOCK", "-1", "STREAMS", "s", "0"),
    ("XREAD", "BLOCK", "100", "STREAMS", "s", "0"),
    ("XREAD", "BLOCK", "9223372036854775807", "STREAMS", "s", "0"),
    # XREADGROUP: new entries, history, options, errors
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "dave", "COUNT", "1", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "dave", "NOACK", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1-1"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1"),
    ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "dave", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "dave", "BLOCK", "0", "STREAMS", "s", "0"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", f"{MAX}-{MAX}"),
    ("XREADGROUP", "GROUP", "empty", "alice", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "late", "erin", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "late", "erin", "NOACK", "NOACK", "COUNT", "1", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "GROUP", "late", "erin", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "$"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "bad"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "other", ">", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "fresh", ">", ">"),
    ("XREADGROUP", "GROUP", "nosuch", "alice", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "str", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s"),
    ("XREADGROUP", "GROUP", "g", "STREAMS", "s", ">"),
    ("XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "s", ">"),
    ("XREADGROUP", "COUNT", "1", "NOACK", "STREAMS", "s", ">", "x"),
    ("XREADGROUP", "GROUP", "g", "alice", "FOO", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "x", "STREAMS", "s", ">"),
    ("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "100", "STREAMS", "s", ">"),
    # XACK
    ("XACK", "s", "g", "1-1"),
    ("XACK", "s", "g", "1-1", "1-1", "3-1", "9-9"),
    ("XACK", "s", "g", "1"),
    ("XACK", "s", "g", "1-1", "bad"),
    ("XACK", "s", "g", "+"),
    ("XACK", "s", "nosuch", "bad"),
    ("XACK", "fresh", "g", "bad"),
    ("XACK", "str", "g", "1-1"),
    ("XACK", "s", "g"),
    # XPENDING, summary and extended
    ("XPENDING", "s", "g"),
    ("XPENDING", "s", "empty"),
    ("XPENDING", "s", "g", "-", "+", "10"),
    ("XPENDING", "s", "g", "-", "+", "10", "alice"),
    ("XPENDING", "s", "g", "-", "+", "10", "carol"),
    ("XPENDING", "s", "g", "-", "+", "10", "nobody"),
    ("XPENDING", "s", "g", "-", "+", "10", "alice", "extra"),
    ("XPENDING", "s", "g", "-", "+", "10", "alice", "extra", "extra"),
    ("XPENDING", "s", "g", "-", "+", "10", "alice", "extra", "extra", "extra"),
    ("XPENDING", "s", "g", "-", "+", "1"),
    ("XPENDING", "s", "g", "-", "+", "0"),
    ("XPENDING", "s", "g", "-", "+", "-1"),
    ("XPENDING", "s", "g", "-", "+", "x"),
    ("XPENDING", "s", "g", "2", "3", "10"),
    ("XPENDING", "s", "g", "(1-1", "(3-1", "10"),
    ("XPENDING", "s", "g", "(1-1", "+", "10"),
    ("XPENDING", "s", "g", f"({MAX}-{MAX}", "+", "10"),
    ("XPENDING", "s", "g", "-", "(0-0", "10"),
    ("XPENDING", "s", "g", "(-", "+", "10"),
    ("XPENDING", "s", "g", "bad", "+", "10"),
    ("XPENDING", "s", "g", "-", "bad", "10"),
    ("XPENDING", "s", "g", "IDLE", OLD, "-", "+", "10"),
    ("XPENDING", "s", "g", "idle", OLD, "-", "+", "10", "bob"),
    ("XPENDING", "s", "g", "IDLE", "0", "-", "+", "10"),
    ("XPENDING", "s", "g", "IDLE", "-100", "-", "+", "10"),
    ("XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"),
    ("XPENDING", "s", "g", "IDLE", "5", "-", "+"),
    ("XPENDING", "s", "g", "IDLE", "5", "-", "+", "x"),
    ("XPENDING", "s", "g", "IDLE", "0", "-", "+", "10", "alice", "extra"),
    ("XPENDING", "s", "g", "1", "2", "3", "4", "5", "6"),
    ("XPENDING", "s", "g", "-", "+"),
    ("XPENDING", "s", "g", "-"),
    ("XPENDING", "s", "nosuch"),
    ("XPENDING", "fresh", "g"),
    ("XPENDING", "fresh", "g", "bad", "+", "10"),
    ("XPENDING", "str", "g"),
    ("XPENDING", "s"),
    # XCLAIM
    ("XCLAIM", "s", "g", "carol", "0", "1-1"),
    ("XCLAIM", "s", "g", "carol", "0", "1-1", "2-1", "3-1", "4-1"),
    ("XCLAIM", "s", "g", "carol", "0", "1-1", "JUSTID"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "JUSTID"),
    ("XCLAIM", "s", "g", "dave", "0", "4-1"),
    ("XCLAIM", "s", "g", "dave", "0", "4-1", "FORCE"),
    ("XCLAIM", "s", "g", "dave", "0", "4-1", "FORCE", "JUSTID"),
    ("XCLAIM", "s", "g", "dave", "0", "4-1", "9-9", "FORCE"),
    ("XCLAIM", "s", "g", "dave", OLD, "1-1", "2-1", "3-1"),
    ("XCLAIM", "s", "g", "dave", OLD, "2-1", "4-1", "FORCE"),
    ("XCLAIM", "s", "g", "dave", "-5", "1-1"),
    ("XCLAIM", "s", "g", "dave", "x", "1-1"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "IDLE", OLD),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "IDLE", "-5"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "TIME", "1"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "TIME", "-7"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "TIME", "99999999999999"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "RETRYCOUNT", "7"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "RETRYCOUNT", "-1"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "RETRYCOUNT", "3", "JUSTID"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "LASTID", "5-1"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "LASTID", "9"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "LASTID", "0-1"),
    ("XCLAIM", "s", "g", "dave", "0", "9-9", "LASTID", "9"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "1-1", "1-1"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "force", "justid", "idle", "5", "retrycount", "2"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "IDLE", "x"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "TIME", "x"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "RETRYCOUNT", "x"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "LASTID", "x"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "LASTID"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "IDLE"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "bad"),
    ("XCLAIM", "s", "g", "dave", "0", "1-1", "FORCE", "2-1"),
    ("XCLAIM", "s", "g", "dave", "0", "+", "1-1"),
    ("XCLAIM", "s", "g", "dave", "x", "bad"),
    ("XCLAIM", "s", "nosuch", "dave", "x", "1-1"),
    ("XCLAIM", "fresh", "g", "dave", "0", "1-1"),
    ("XCLAIM", "str", "g", "dave", "0", "1-1"),
    ("XCLAIM", "s", "g", "dave", "0"),
    # XAUTOCLAIM
    ("XAUTOCLAIM", "s", "g", "carol", "0", "0"),
    ("XAUTOCLAIM", "s", "g", "carol", "0", "0", "COUNT", "1"),
    ("XAUTOCLAIM", "s", "g", "carol", "0", "0", "COUNT", "2", "JUSTID"),
    ("XAUTOCLAIM", "s", "g", "carol", "0", "2-1"),
    ("XAUTOCLAIM", "s", "g", "carol", "0", "(2-1", "justid"),
    ("XAUTOCLAIM", "s", "g", "carol", "0", "+"),
    ("XAUTOCLAIM", "s", "g", "carol", OLD, "-"),
    ("XAUTOCLAIM", "s", "g", "carol", OLD, "-", "COUNT", "1"),
    ("XAUTOCLAIM", "s", "g", "carol", "-5", "-"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-"),
    ("XAUTOCLAIM", "s", "empty", "dave", "0", "-"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "0"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "-1"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "x"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "576460752303423487"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT", "576460752303423488"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "COUNT"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "-", "FOO"),
    ("XAUTOCLAIM", "s", "g", "dave", "x", "-"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "bad"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", "(+"),
    ("XAUTOCLAIM", "s", "g", "dave", "0", f"({MAX}-{MAX}"),
    ("XAUTOCLAIM", "s", "nosuch", "dave", "0", "0"),
    ("XAUTOCLAIM", "fresh", "g", "dave", "0", "0"),
    ("XAUTOCLAIM", "fresh", "g", "dave", "0", "bad"),
    ("XAUTOCLAIM", "str", "g", "dave", "0", "0"),
    ("XAUTOCLAIM", "str", "g", "dave", "0", "0", "FOO"),
    ("XAUTOCLAIM", "s", "g", "dave", "0"),
    # XINFO
    ("XINFO", "STREAM", "s"),
    ("XINFO", "STREAM", "s", "FULL"),
    ("XINFO", "STREAM", "s", "full", "count", "1"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "0"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "-1"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "x"),
    ("XINFO", "STREAM", "s", "FULL", "FOO", "1"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT"),
    ("XINFO", "STREAM", "s", "FULL", "COUNT", "1", "x"),
    ("XINFO", "STREAM", "s", "COUNT", "1"),
    ("XINFO", "STREAM", "s", "FOO"),
    ("XINFO", "STREAM", "other"),
    ("XINFO", "STREAM", "fresh"),
    ("XINFO", "STREAM", "fresh", "FOO"),
    ("XINFO", "STREAM", "str"),
    ("XINFO", "STREAM"),
    ("XINFO", "GROUPS", "s"),
    ("XINFO", "GROUPS", "other"),
    ("XINFO", "GROUPS", "fresh"),
    ("XINFO", "GROUPS", "str"),
    ("XINFO", "GROUPS", "s", "x"),
    ("XINFO", "CONSUMERS", "s", "g"),
    ("XINFO", "CONSUMERS", "s", "empty"),
    ("XINFO", "CONSUMERS", "s", "nosuch"),
    ("XINFO", "CONSUMERS", "fresh", "g"),
    ("XINFO", "CONSUMERS", "str", "g"),
    ("XINFO", "CONSUMERS", "s"),
    ("XINFO", "HELP"),
    ("XINFO", "HELP", "x"),
    ("XINFO", "FOO"),
    ("XINFO",),
    # XSETID
    ("XSETID", "s", "5-1"),
    ("XSETID", "s", "4-1"),
    ("XSETID", "s", "6"),
    ("XSETID", "s", "6-6", "ENTRIESADDED", "4"),
    ("XSETID", "s", "6-6", "ENTRIESADDED", "5"),
    ("XSETID", "s", "6-6", "ENTRIESADDED", "50"),
    ("XSETID", "s", "6-6", "ENTRIESADDED", "-1"),
    ("XSETID", "s", "6-6", "ENTRIESADDED", "x"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "7-0"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "6-6"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "2-1"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "0-0"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "bad"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "+"),
    ("XSETID", "s", "6-6", "MAXDELETEDID", "1", "ENTRIESADDED", "9", "ENTRIESADDED", "10"),
    ("XSETID", "s", "6-6", "foo"),
    ("XSETID", "s", "6-6", "ENTRIESADDED"),
    ("XSETID", "s", "+"),
    ("XSETID", "s", "-"),
    ("XSETID", "s", "bad"),
    ("XSETID", "s", "7-*"),
    ("XSETID", "fresh", "1-1"),
    ("XSETID", "fresh", "bad"),
    ("XSETID", "fresh", "1-1", "foo"),
    ("XSETID", "str", "1-1"),
    ("XSETID", "s"),
]


def _run_setup(pair: Pair) -> None:
    replies = pair.same_batch(("FLUSHALL",), *SETUP)
    assert not [reply for reply in replies if reply.startswith(b"-")], replies


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def streams(request, redis_server, leakdb_server):
    """A Pair of raw connections to both servers, in RESP2 or RESP3."""
    pair = Pair(redis_server.port, leakdb_server.port, request.param)
    yield pair
    pair.close()


@pytest.fixture
def flushed(redis_server, leakdb_server):
    """A RESP2 Pair of raw connections to both servers, flushed."""
    pair = Pair(redis_server.port, leakdb_server.port)
    pair.same("FLUSHALL")
    yield pair
    pair.close()


def _case_id(case: tuple[str, ...]) -> str:
    return " ".join(case)[:70]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_stream_group_commands_match_redis(streams, case):
    """SETUP, the case and the probes of what it left, pipelined: one round trip to each server."""
    replies = streams.same_batch(("FLUSHALL",), *SETUP, case, *STATE)
    assert not [reply for reply in replies[: 1 + len(SETUP)] if reply.startswith(b"-")]


# -- entries-read and lag ----------------------------------------------------------------------------

# Each scenario runs on an empty keyspace; XINFO GROUPS and XINFO STREAM are compared after every step.
SCENARIOS = {
    "reads count up": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"),
        ("XADD", "s", "3-1", "f", "v"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ],
    "a deletion ahead of the group": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XADD", "s", "3-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XDEL", "s", "2-1"),
        ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XADD", "s", "4-1", "f", "v"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ],
    "deleting the first entry": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XDEL", "s", "1-1"),
        ("XGROUP", "CREATE", "s", "h", "1-1"),
        ("XGROUP", "CREATE", "s", "i", "2-1"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ],
    "trimming": [
        *[("XADD", "s", f"{n}-1", "f", "v") for n in range(1, 8)],
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XGROUP", "CREATE", "s", "h", "3-1"),
        ("XTRIM", "s", "MAXLEN", "4"),
        ("XGROUP", "CREATE", "s", "i", "0"),
        ("XGROUP", "CREATE", "s", "j", "4-1"),
        ("XGROUP", "CREATE", "s", "k", "5-1"),
        ("XTRIM", "s", "MAXLEN", "0"),
        ("XGROUP", "CREATE", "s", "l", "0"),
        ("XGROUP", "CREATE", "s", "m", "9-1"),
        ("XADD", "s", "10-1", "f", "v"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ],
    "everything deleted": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XDEL", "s", "1-1", "2-1"),
        ("XGROUP", "CREATE", "s", "h", "$"),
        ("XGROUP", "CREATE", "s", "i", "5-5"),
        ("XADD", "s", "3-1", "f", "v"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
    ],
    "setid and entriesread": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XADD", "s", "3-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0", "ENTRIESREAD", "0"),
        ("XGROUP", "SETID", "s", "g", "2-1", "ENTRIESREAD", "2"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XGROUP", "SETID", "s", "g", "1-1"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "7"),
        ("XREADGROUP", "GROUP", "g", "d", "COUNT", "1", "STREAMS", "s", ">"),
    ],
    "xsetid counters": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XSETID", "s", "5-0", "ENTRIESADDED", "10", "MAXDELETEDID", "1-5"),
        ("XGROUP", "CREATE", "s", "h", "$"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XADD", "s", "6-*", "f", "v"),
        ("XSETID", "s", "0-0", "ENTRIESADDED", "0"),
    ],
    "an empty stream made by MKSTREAM": [
        ("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"),
        ("XGROUP", "CREATE", "s", "h", "0", "ENTRIESREAD", "3"),
        ("XADD", "s", "1-1", "f", "v"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "h", "c", "STREAMS", "s", ">"),
    ],
    "a claimed entry deleted": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XADD", "s", "2-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XDEL", "s", "1-1"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"),
        ("XPENDING", "s", "g", "-", "+", "10"),
        ("XCLAIM", "s", "g", "d", "0", "1-1", "2-1"),
        ("XPENDING", "s", "g"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"),
    ],
    "a redelivered entry moves": [
        ("XADD", "s", "1-1", "f", "v"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
        ("XGROUP", "SETID", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"),
        ("XPENDING", "s", "g", "-", "+", "10"),
        ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"),
        ("XGROUP", "DELCONSUMER", "s", "g", "d"),
        ("XPENDING", "s", "g"),
    ],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS)
@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_read_counters_and_lag_match_redis(redis_server, leakdb_server, steps, protocol):
    pair = Pair(redis_server.port, leakdb_server.port, protocol)
    pair.same("FLUSHALL")
    for step in steps:
        pair.same_batch(step, ("XINFO", "GROUPS", "s"), ("XINFO", "STREAM", "s"))
    pair.same("XINFO", "STREAM", "s", "FULL")
    pair.close()


# -- XINFO's radix tree figures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ids",
    [
        ["1-1"],
        ["1-1", "2-1"],
        ["1-1", "255-0", "256-0", "65536-0", "65537-5"],
        ["5-0", "5-1", "5-2", "5-9223372036854775808"],
        ["1099511627776-0", "1099511627777-0", "2199023255552-7", "4398046511104-0"],
    ],
    ids=lambda ids: ",".join(ids)[:40],
)
def test_radix_tree_figures_match_redis(flushed, ids):
    """Values above stream-node-max-bytes give each entry its own node, keyed by its ID in the tree."""
    big = "x" * 5000
    for entry_id in ids:
        flushed.same("XADD", "s", entry_id, "f", big)
    info = ("XINFO", "STREAM", "s", "FULL", "COUNT", "1")
    flushed.same(*info)
    for entry_id in ids[::2]:
        flushed.same("XDEL", "s", entry_id)
        flushed.same(*info)
    flushed.same("XTRIM", "s", "MAXLEN", "0")
    flushed.same(*info)


def test_node_counts_follow_many_small_entries(flushed):
    adds = [("XADD", "s", f"{n * 7919}-{n}", "field", "v" * (n % 90)) for n in range(1, 451)]
    for connection in (flushed.oracle, flushed.ours):
        connection.send(*adds)
        connection.receive(len(adds))
    pairs = flushed
    pairs.same("XINFO", "STREAM", "s")
    pairs.same("XDEL", "s", *[f"{n * 7919}-{n}" for n in range(100, 250)])
    pairs.same("XINFO", "STREAM", "s")
    pairs.same("COPY", "s", "t")
    pairs.same("XINFO", "STREAM", "t")
    pairs.same("XTRIM", "t", "MAXLEN", "~", "100")
    pairs.same("XINFO", "STREAM", "t")


# -- generic key commands on a stream with groups -----------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_key_commands_keep_the_groups(redis_server, leakdb_server, protocol):
    pair = Pair(redis_server.port, leakdb_server.port, protocol)
    _run_setup(pair)
    for command in [
        ("TYPE", "s"),
        ("OBJECT", "ENCODING", "s"),
        ("COPY", "s", "c"),
        ("XINFO", "STREAM", "c", "FULL"),
        ("XREADGROUP", "GROUP", "g", "zed", "STREAMS", "c", ">"),
        ("XACK", "c", "g", "1-1"),
        ("XINFO", "STREAM", "c", "FULL"),
        ("XINFO", "STREAM", "s", "FULL"),  # the original is untouched
        ("RENAME", "c", "r"),
        ("XINFO", "STREAM", "r", "FULL"),
        ("XPENDING", "r", "g"),
        ("COPY", "r", "s", "REPLACE"),
        ("XINFO", "GROUPS", "s"),
        ("MOVE", "r", "1"),
        ("SELECT", "1"),
        ("XINFO", "CONSUMERS", "r", "g"),
        ("SWAPDB", "0", "1"),
        ("XPENDING", "r", "g", "-", "+", "10"),
        ("SELECT", "0"),
        ("DEL", "s"),
        ("XINFO", "GROUPS", "s"),
        ("SCAN", "0", "TYPE", "stream"),
    ]:
        pair.same(*command)
    pair.close()


def test_memory_usage_counts_the_groups(r):
    """MEMORY USAGE is LeakDB's own estimate; consumer groups and their PELs add to it."""
    for n in range(1, 201):
        r.execute_command("XADD", "s", f"{n}-1", "field", "value")
    bare = r.memory_usage("s")
    r.execute_command("XGROUP", "CREATE", "s", "g", "0")
    with_group = r.memory_usage("s")
    r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    delivered = r.memory_usage("s")
    assert bare < with_group < delivered
    assert delivered - with_group >= 200 * 100  # every pending entry counts
    r.execute_command("XACK", "s", "g", *[f"{n}-1" for n in range(1, 201)])
    assert r.memory_usage("s") < delivered


# -- the command table ---------------------------------------------------------------------------------

STREAM_COMMANDS = ["xread", "xreadgroup", "xgroup", "xack", "xpending", "xclaim", "xautoclaim", "xinfo"]
STREAM_COMMANDS += ["xsetid", "xadd", "xrange", "xrevrange", "xlen", "xdel", "xtrim"]


def test_command_table_matches_redis(flushed):
    """Arity, flags, key positions and ACL categories, subcommands included, as COMMAND INFO gives them."""

    def table(raw: bytes) -> dict:
        rows = {}

        def add(entry) -> None:
            name, arity, flags, first, last, step, categories = entry.children[:7]
            rows[name.payload] = (
                arity.payload,
                sorted(flag.payload for flag in flags.children),
                first.payload,
                last.payload,
                step.payload,
                sorted(category.payload for category in categories.children),
            )
            for sub in entry.children[9].children:
                add(sub)

        for entry in parse(raw)[0].children:
            add(entry)
        return rows

    oracle, ours = flushed.both("COMMAND", "INFO", *STREAM_COMMANDS)
    assert table(ours) == table(oracle)
