"""Coverage-guided fuzzing of the RESP parser and the command layer with atheris (libFuzzer).

``python -m benchmarks.faults.fuzz SECONDS CORPUS_DIR`` runs in its own process: each input is fed to
the server's request parser (:class:`leakdb.resp.RequestParser`) in one to three reads split where
the input says, and every command it yields runs through the command table against a keyspace that
lives across inputs (so sequences build state; it is emptied when it grows past a few thousand
keys).  Error replies and protocol errors are the expected outcomes; any other exception is a crash,
which libFuzzer saves as ``crash-*`` and reports.  The orchestrator (``python -m benchmarks.faults
fuzz``) parses libFuzzer's last status line.  A seed corpus of ordinary requests starts it off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["leakdb"]):
    from leakdb.commands import DISPATCH, lookup
    from leakdb.commands.inprocess import _SERVER_ONLY, EmbeddedClient
    from leakdb.commands.registry import Suspend
    from leakdb.engine.keyspace import Keyspace
    from leakdb.errors import CommandError
    from leakdb.resp import ProtocolError, RequestParser

# Arguments past these sizes make a command legitimately slow or big (SETRANGE at 512 MB, an LPOS
# over a million elements): not what the fuzzer is after, so such inputs are skipped.
MAX_NUMBER = 100_000
MAX_KEYS = 5_000
# Slow by design, as in Redis: PFSELFTEST runs millions of HyperLogLog insertions.
SLOW_BY_DESIGN = frozenset({"pfselftest"})
SEEDS = [
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
    b"PING\r\nECHO hi\r\n",
    b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n",
    b"*4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n$1\r\nb\r\n*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n",
    b"*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\nm\r\n*4\r\n$6\r\nZRANGE\r\n$1\r\nz\r\n$1\r\n0\r\n$1\r\n1\r\n",
    b"*5\r\n$4\r\nXADD\r\n$1\r\nx\r\n$1\r\n*\r\n$1\r\nf\r\n$1\r\nv\r\n",
    b"SADD s a b c\r\nSINTERCARD 1 s\r\nSPOP s 2\r\n",
    b"SET n 10\r\nINCRBYFLOAT n 1.5\r\nEXPIRE n 100 NX\r\nTTL n\r\n",
    b"*2\r\n$4\r\nKEYS\r\n$3\r\n*[a\r\n",
]

keyspace = Keyspace()


def too_big(args: list[bytes]) -> bool:
    for arg in args[1:]:
        if len(arg) < 12 and arg.lstrip(b"-+").isdigit() and abs(int(arg)) > MAX_NUMBER:
            return True
    return False


def run(args: list[bytes], client: EmbeddedClient) -> None:
    entry = DISPATCH.get(args[0]) or lookup(args[0])
    if entry is None:
        return
    handler, low, high, declared = entry
    if (
        not low <= len(args) <= high
        or declared.name in _SERVER_ONLY
        or declared.name in SLOW_BY_DESIGN
        or too_big(args)
    ):
        return
    try:
        handler(client, args)
    except (CommandError, Suspend):
        pass


def one_input(data: bytes) -> None:
    global keyspace
    if keyspace.key_count() > MAX_KEYS:
        keyspace = Keyspace()
    if not data:
        return
    cuts = sorted([data[0] % len(data), data[-1] % len(data)])
    pieces = [data[1:][: cuts[0]], data[1:][cuts[0] : cuts[1]], data[1:][cuts[1] :]]
    parser = RequestParser(max_bulk_len=1 << 20, query_buffer_limit=1 << 22)
    client = EmbeddedClient(keyspace, data[0] % 4)
    try:
        for piece in pieces:
            if piece:
                parser.feed(piece)
            while True:
                args = parser.get()
                if args is False:
                    break
                if args:
                    run(args, client)
    except ProtocolError:
        pass


# Words libFuzzer splices into inputs: every command name, and the options commands take.
OPTIONS = {
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "KEEPTTL",
    "GET",
    "WITHSCORES",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "MATCH",
    "COUNT",
    "TYPE",
    "MAXLEN",
    "MINID",
    "NOMKSTREAM",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "STORE",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "REPLACE",
    "DB",
    "IDLETIME",
    "FREQ",
    "ENCODING",
    "WITHVALUES",
}


def dictionary(path: Path) -> Path:
    words = sorted({name.decode().upper() for name in DISPATCH} | OPTIONS)
    path.write_text("".join(f'"{word}"\n' for word in words if word.isascii() and '"' not in word))
    return path


def main() -> None:
    seconds, corpus = int(sys.argv[1]), Path(sys.argv[2])
    corpus.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(SEEDS):
        (corpus / f"seed-{number}").write_bytes(b"\x00" + seed)
    flags = [
        sys.argv[0],
        str(corpus),
        f"-dict={dictionary(corpus.parent / 'commands.dict')}",
        f"-max_total_time={seconds}",
        "-timeout=60",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={corpus.parent}/",
    ]
    atheris.Setup(flags, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
