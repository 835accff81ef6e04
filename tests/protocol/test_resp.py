"""The sans-I/O RESP layer: request parsing under every chunking, and reply encoding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leakdb.resp import RESP2, RESP3, ProtocolError, RequestParser, split_inline


def multibulk(args: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def parse_all(stream: bytes, cuts: list[int]) -> list[list[bytes]]:
    parser = RequestParser()
    commands: list[list[bytes]] = []
    edges = [*sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    start = 0
    for edge in edges:
        parser.feed(stream[start:edge])
        start = edge
        while (command := parser.get()) is not False:
            if command is not None:
                commands.append(command)
    return commands


arg = st.binary(max_size=12) | st.sampled_from([b"\r\n", b"\n\r\n", b"*3\r\n$", b"$", b"\n\n"])
request = st.lists(arg, min_size=1, max_size=4)
inline_word = st.text(alphabet="abcXYZ019-_:", min_size=1, max_size=6).map(str.encode)
item = st.one_of(
    request.map(lambda args: (multibulk(args), args)),
    st.lists(inline_word, min_size=1, max_size=3).map(lambda w: (b" ".join(w) + b"\r\n", w)),
    st.sampled_from([(b"\r\n", None), (b"\n", None)]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(item, min_size=1, max_size=12), st.lists(st.integers(0, 400), max_size=12))
def test_any_chunking_gives_the_same_requests(items, cuts):
    # Multibulk requests, inline requests and blank lines, in any order and cut anywhere: the parser
    # yields exactly the requests that were sent (Redis accepts all of these on one connection,
    # except inline right after an unfinished multibulk chunk, which no client sends).
    stream = b"".join(raw for raw, _ in items)
    expected = [args for _, args in items if args is not None]
    first_multibulk = next((i for i, (raw, _) in enumerate(items) if raw[:1] == b"*"), None)
    if first_multibulk is not None and any(
        raw[:1] != b"*" and args is not None for raw, args in items[first_multibulk:]
    ):
        # Inline after multibulk is only recognised at a chunk edge: cut at every item edge.
        cuts, position = [], 0
        for raw, _ in items:
            position += len(raw)
            cuts.append(position)
    assert parse_all(stream, cuts) == expected


@pytest.mark.parametrize(
    "stream,message",
    [
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n", "expected '$', got '*'"),
        (b'SET "a\r\n', "unbalanced quotes in request"),
        (b"x" * 70000, "too big inline request"),
    ],
)
def test_protocol_errors(stream, message):
    parser = RequestParser()
    parser.feed(stream)
    with pytest.raises(ProtocolError, match=message.replace("$", r"\$").replace("*", r"\*")):
        while parser.get() is not False:
            pass


@pytest.mark.parametrize(
    "line,args",
    [
        (b"set a b", [b"set", b"a", b"b"]),
        (b'  set  "a b"  c ', [b"set", b"a b", b"c"]),
        (b'"\\x41\\n\\t\\\\"', [b"A\n\t\\"]),
        (b"'it\\'s'", [b"it's"]),
        (b"", []),
    ],
)
def test_inline_splitting(line, args):
    assert split_inline(line) == args


def test_reply_encoding_in_both_protocols():
    assert RESP2.encode({b"a": 1}) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert RESP3.encode({b"a": 1}) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert RESP2.encode(None) == b"$-1\r\n"
    assert RESP3.encode(None) == b"_\r\n"
    assert RESP2.double(1.5) == b"$3\r\n1.5\r\n"
    assert RESP3.double(float("inf")) == b",inf\r\n"
    assert RESP3.encode({b"x"}) == b"~1\r\n$1\r\nx\r\n"
    assert RESP3.boolean(True) == b"#t\r\n"
    assert RESP3.verbatim("hi") == b"=6\r\ntxt:hi\r\n"
