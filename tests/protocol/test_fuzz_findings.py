"""Inputs atheris found (python -m benchmarks.faults fuzz), kept as regression tests.

A request whose element is a RESP3 map with an aggregate as its key made hiredis raise TypeError
instead of a protocol error: the server logged an exception and left the connection hanging with no
reply.  Redis answers with a protocol error and closes; so does LeakDB now, with the same bytes.
"""

from __future__ import annotations

import pytest
from conftest import raw_exchange

from leakdb.resp import ProtocolError, RequestParser

FOUND = [
    b"*1\r\n%1\r\n*0\r\n$1\r\nx\r\n",  # a map whose key is an array
    b"*1\r\n%1\r\n%0\r\n$1\r\nx\r\n",  # ... whose key is a map
    b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",  # a map element at all
    b"*1\r\n,1.5\r\n",  # a double element
]


@pytest.mark.parametrize("payload", FOUND)
def test_resp3_aggregates_in_a_request_are_a_protocol_error_as_in_redis(redis_server, leakdb_server, payload):
    expected = raw_exchange(redis_server.port, payload, expect_close=True)
    assert expected.startswith(b"-ERR Protocol error")
    assert raw_exchange(leakdb_server.port, payload, expect_close=True) == expected
    assert raw_exchange(leakdb_server.port, b"PING\r\n") == b"+PONG\r\n"  # and the server serves on


def test_the_parser_raises_a_protocol_error_not_a_type_error():
    parser = RequestParser()
    parser.feed(FOUND[0])
    with pytest.raises(ProtocolError, match="expected '\\$', got '%'"):
        parser.get()
