"""Every code block in README.rst runs here, and shows what the README says it shows.

Blocks run section by section, in order, in a fresh directory per section (blocks of one section
share it, and its servers, as a reader's terminal would):

* ``$ command`` sessions: each command runs in bash under a pseudo-terminal (so ``redis-cli``
  formats replies as a user sees them) and its output must match the lines below it, where
  ``...`` stands for anything.  A ``leakdb-server`` command that listens keeps running in the
  background; the lines shown after it must appear in what it printed by the end of the section,
  when it gets Ctrl-C and must exit with status 0 after its one-line goodbye.
* Python blocks run as scripts.  A trailing comment on an expression statement is the value the
  README shows for it and must equal its ``repr`` (for ``print(...)``: the printed text).  A block
  whose first line is ``# name.py`` is a file the next blocks use.
* Command lists (lines without ``$``): each command must succeed.
* Config file examples (first line ``# name.conf``): LeakDB's config loader must accept every line.
* The package layout (the Architecture tree) must name files that exist, and every module.

README ports (6379 to 6399) become free ports of the test's own; redis-cli without ``-p`` goes to
the test's stand-in for 6379, a ``leakdb-server`` started in the section's directory when no block
of the section started one.  Nothing here touches a Redis on 6379.
"""

from __future__ import annotations

import ast
import io
import os
import pty
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from conftest import free_port, require, wait_for_port

from leakdb import PersistentQueueStorage, PersistentStorage

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"
README_PORTS = range(6379, 6400)
# Steps that install the package or run this very suite: .ci/run runs them, not this file.
SUITE_STEPS = {"pip", "pip3", "pytest", "apt-get", "sudo", "make", "scripts/test"}


@dataclass
class Block:
    line: int  # README line of the block's first line
    section: str
    text: str
    python: bool = False  # from a ``.. code-block:: python`` directive

    @property
    def kind(self) -> str:
        first = self.text.lstrip().splitlines()[0]
        if first.startswith("$ "):
            return "session"
        if re.fullmatch(r"\w+/", first.strip()):
            return "layout"
        if re.fullmatch(r"# [\w.-]+\.conf", first.strip()):
            return "config"
        if self.python:
            return "python"
        if first.split()[0] in SUITE_STEPS:
            return "commands"
        try:
            ast.parse(self.text)
        except SyntaxError:
            return "commands"
        return "python"


def readme_blocks(path: Path = README) -> list[Block]:
    """The literal blocks (after ``::``) and code-block directives of an RST file, with sections."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"(=+|-+)", underline) and len(underline) >= len(line.rstrip()):
            section = line.strip()
        is_directive = line.lstrip().startswith(".. ")
        python = bool(re.match(r"\s*\.\. code-block:: python\s*$", line))
        if python or (line.rstrip().endswith("::") and not is_directive):
            indent = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            start, body = j, []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
            ):
                body.append(lines[j])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            if body:
                margin = min(len(b) - len(b.lstrip()) for b in body if b.strip())
                text = "\n".join(b[margin:] for b in body) + "\n"
                blocks.append(Block(start + 1, section, text, python))
            i = j
            continue
        i += 1
    return blocks


BLOCKS = readme_blocks()
SECTIONS = list(dict.fromkeys(block.section for block in BLOCKS))


# -- running commands as a reader would ------------------------------------------------------------


@dataclass
class Background:
    process: subprocess.Popen
    expected: str
    line: int


@dataclass
class Section:
    """One section's directory, ports and servers."""

    directory: Path
    ports: dict[int, int] = field(default_factory=dict)
    servers: dict[int, Background] = field(default_factory=dict)  # by README port

    def __post_init__(self) -> None:
        shims = self.directory.parent / "bin"
        shims.mkdir(exist_ok=True)
        for name, module in (("leakdb-server", "leakdb.server"), ("leakdb", "leakdb.tool")):
            shim = shims / name
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
            shim.chmod(0o755)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}",
            "TERM": "dumb",
        }

    def port(self, readme_port: int) -> int:
        if readme_port not in self.ports:
            self.ports[readme_port] = free_port()
        return self.ports[readme_port]

    def localize(self, text: str) -> str:
        """README ports become this test's ports."""

        def swap(match: re.Match) -> str:
            number = int(match.group(0))
            return str(self.port(number)) if number in README_PORTS else match.group(0)

        return re.sub(r"(?<![\w.])\d{4}(?![\w.])", swap, text)

    def server_for(self, readme_port: int) -> None:
        """A leakdb-server as ``leakdb-server --port N`` starts it, unless one already listens."""
        if readme_port not in self.servers:
            server, output = self.start_server(["--port", str(self.port(readme_port))], "", 0, readme_port)
            assert server is not None, output

    def start_server(
        self, flags: list[str], expected: str, line: int, readme_port: int
    ) -> tuple[Background | None, str]:
        """Start leakdb-server; (the server, "") once it listens, or (None, what it said) if it stops."""
        argv = [sys.executable, "-m", "leakdb.server", *flags]
        process = subprocess.Popen(
            argv,
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        port = self.port(readme_port)
        deadline = time.monotonic() + 60
        while process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                if time.monotonic() > deadline:
                    process.kill()
                    raise AssertionError(
                        f"README line {line}: leakdb-server {flags} did not listen"
                    ) from None
                time.sleep(0.02)
                continue
            server = Background(process, expected, line)
            self.servers[readme_port] = server
            return server, ""
        return None, process.stdout.read()

    def run(self, command: str, expected: str | None, line: int) -> None:
        """One command of a session (`expected`: the lines shown under it) or of a command list."""
        words = shlex.split(command, comments=True)
        if not words or words[0] in SUITE_STEPS:
            return
        if words[0] == "leakdb-server" and not {"|", ">", "&&"} & set(words):
            self._server_command(command, words, expected, line)
            return
        localized = self.localize(command)
        for match in re.finditer(r"redis-cli(?: -p (\d+))?", command):
            self.server_for(int(match.group(1) or 6379))
        localized = re.sub(r"redis-cli(?! -p)", f"redis-cli -p {self.port(6379)}", localized)
        status, output = self.terminal(localized)
        if expected is None:
            assert status == 0, f"README line {line}: {command!r} failed ({status}): {output}"
        else:
            assert_shows(output, expected, line, command)

    def _server_command(self, command: str, words: list[str], expected: str | None, line: int) -> None:
        flags = [self.localize(word) for word in words[1:]]
        readme_port = int(words[words.index("--port") + 1]) if "--port" in words else 6379
        if "--port" not in words:
            flags += ["--port", str(self.port(readme_port))]
        server, output = self.start_server(flags, expected or "", line, readme_port)
        if server is None:  # it refused to start: what it said is the command's output
            assert_shows(output, expected or "", line, command)

    def terminal(self, command: str) -> tuple[int, str]:
        """Run `command` in bash with a pseudo-terminal as its output, as a reader's shell does."""
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.directory,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        chunks = []
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                process.kill()
                raise AssertionError(f"{command!r} did not finish")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        status = process.wait(timeout=60)
        return status, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def finish(self) -> None:
        """Ctrl-C every server: each exits 0 after printing what the README showed under it."""
        for server in self.servers.values():
            server.process.send_signal(signal.SIGINT)
            output, _ = server.process.communicate(timeout=60)
            assert server.process.returncode == 0, output
            assert "Traceback" not in output, output
            assert output.rstrip().endswith("LeakDB is now ready to exit, bye bye..."), output
            if server.expected:
                assert re.search(pattern(server.expected), output), (
                    f"README line {server.line}: the server did not print\n{server.expected}\nbut\n{output}"
                )


def pattern(expected: str) -> str:
    """A regex for README output: whole lines, ``...`` standing for anything (lines or in a line)."""
    lines = [re.escape(line.rstrip()).replace(r"\.\.\.", r"[\s\S]*?") for line in expected.splitlines()]
    return r"(?m)^" + r"\n".join(lines) + r"$"


def assert_shows(output: str, expected: str, line: int, command: str) -> None:
    text = "\n".join(line.rstrip() for line in output.rstrip().splitlines())
    assert re.fullmatch(pattern(expected), text), (
        f"README line {line}: {command!r} printed\n{text}\ninstead of\n{expected}"
    )


def run_session(section: Section, block: Block) -> None:
    command, expected, command_line = None, [], 0
    for number, line in enumerate(block.text.splitlines(), block.line):
        if line.startswith("$ "):
            if command is not None:
                section.run(command, "\n".join(expected), command_line)
            command, expected, command_line = line[2:], [], number
        else:
            expected.append(line)
    if command is not None:
        section.run(command, "\n".join(expected), command_line)


def run_commands(section: Section, block: Block) -> None:
    for number, line in enumerate(block.text.splitlines(), block.line):
        for step in line.split("&&"):
            section.run(step.strip(), None, number)


def run_config(section: Section, block: Block) -> None:
    """A config file example (first line ``# name.conf``): every line must be one LeakDB accepts."""
    from leakdb.config import Config

    path = section.directory / block.text.splitlines()[0].strip()[2:]
    path.write_text(block.text)
    Config().load_file(str(path))


# -- Python blocks ------------------------------------------------------------------------------------

CHECKS = """
def __readme_check(line, value, shown):
    if repr(value) != shown:
        raise SystemExit(f"README line {line} shows {shown}, but the value is {value!r}")
    return value


def __readme_print(line, shown, *args, **kwargs):
    import io
    text = io.StringIO()
    print(*args, file=text, **{k: v for k, v in kwargs.items() if k != "file"})
    if text.getvalue().rstrip("\\n") != shown:
        raise SystemExit(f"README line {line} shows {shown}, but it prints {text.getvalue()!r}")
    print(*args, **kwargs)
"""


def instrumented(source: str, first_line: int) -> tuple[str, int]:
    """`source` with each commented expression checked against its comment; and how many."""
    comments = {
        token.start[0]: token.string[1:].strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    tree = ast.parse(source)
    count = 0

    class Checker(ast.NodeTransformer):
        def visit_Expr(self, node: ast.Expr) -> ast.AST:
            nonlocal count
            shown = comments.get(node.lineno)
            if shown is None or node.end_lineno != node.lineno:
                return node
            count += 1
            line = ast.Constant(first_line + node.lineno - 1)
            call = node.value
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print":
                check = ast.Call(
                    ast.Name("__readme_print", ast.Load()),
                    [line, ast.Constant(shown), *call.args],
                    call.keywords,
                )
            else:
                check = ast.Call(
                    ast.Name("__readme_check", ast.Load()), [line, call, ast.Constant(shown)], []
                )
            return ast.copy_location(ast.Expr(check), node)

    tree = ast.fix_missing_locations(Checker().visit(tree))
    return CHECKS + ast.unparse(tree) + "\n", count


DJANGO_CHECK = """
import django
from django.conf import settings
settings.configure(CACHES=CACHES)
django.setup()
from django.core.cache import cache
cache.set("readme", {"works": True})
assert cache.get("readme") == {"works": True}, cache.get("readme")
print("django cache ok")
"""


def run_python(section: Section, block: Block) -> None:
    first = block.text.splitlines()[0]
    name = re.fullmatch(r"# (\w+\.py)", first.strip())
    if name:  # a file the next blocks use
        (section.directory / name.group(1)).write_text(block.text)
        return
    source = section.localize(block.text)
    if re.search(r"\bredis\b", block.text):
        for port in re.findall(r"(?<![\w.])(\d{4})(?![\w.])", block.text):
            if int(port) in README_PORTS:
                section.server_for(int(port))
    if "serve(" in block.text and "serve_forever()" in block.text:
        run_embedded_server(section, block, source)
        return
    script, checks = instrumented(source, block.line)
    expected_output = ""
    if "django.core.cache" in block.text:
        script += DJANGO_CHECK
        expected_output, checks = "django cache ok\n", checks + 1
    assert checks, f"README line {block.line}: the block shows no result to check"
    path = section.directory / f"readme_{block.line}.py"
    path.write_text(script)
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=section.directory,
        env=section.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    path.unlink()
    assert result.returncode == 0, f"README line {block.line}:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    if expected_output:
        assert result.stdout.endswith(expected_output), result.stdout


def run_embedded_server(section: Section, block: Block, source: str) -> None:
    """The serve(storage) example: it serves until Ctrl-C, then says one line and the data is saved."""
    path = section.directory / f"readme_{block.line}.py"
    path.write_text(source)
    port = section.port(int(re.search(r"port=(\d+)", block.text).group(1)))
    process = subprocess.Popen(
        [sys.executable, str(path)],
        cwd=section.directory,
        env=section.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, process)
        client = redis.Redis(port=port)
        assert client.set("greeting", "hello") is True
        assert client.get("greeting") == b"hello"
        client.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stderr.splitlines() == ["received SIGINT: data saved; LeakDB is now ready to exit, bye bye..."]
    filename = re.search(r'filename="([^"]+)"', block.text).group(1)
    with PersistentQueueStorage(filename=section.directory / filename, codec="raw") as storage:
        assert storage.get("greeting") == b"hello"
    path.unlink()


# -- the package layout ----------------------------------------------------------------------------------


def check_layout(block: Block) -> None:
    package = ROOT / block.text.split("/")[0]
    named_files = set(re.findall(r"\b(\w+\.py)\b", block.text))
    named_packages = set(re.findall(r"^\s+(\w+)/", block.text, re.M))
    for name in named_files:
        assert list(package.rglob(name)), f"the README's layout names {name}, which does not exist"
    for name in named_packages:
        assert (package / name / "__init__.py").is_file(), f"the README's layout names {name}/"
    for child in package.iterdir():
        if child.name.startswith("_") or child.name == "__pycache__":
            continue
        shown = f"{child.name}/" if child.is_dir() else child.name
        assert child.name in named_files | named_packages, f"the README's layout leaves out {shown}"


# -- the tests ---------------------------------------------------------------------------------------------


def test_the_readme_has_the_blocks_this_file_runs():
    kinds = {block.kind for block in BLOCKS}
    assert kinds <= {"session", "python", "commands", "layout", "config"}
    assert len(BLOCKS) >= 15 and {"session", "python", "commands", "layout"} <= kinds


def data_file_for(section: Section) -> None:
    """The ``leakdb`` command's examples work on a data.db such as a server leaves behind."""
    with PersistentStorage(section.directory / "data.db") as storage:
        storage.set("user:1", {"name": "ada"})
        storage.set("user:2", {"name": "grace"})
        storage.set("visits", 5)


@pytest.mark.parametrize("title", SECTIONS)
def test_readme_section(title, tmp_path):
    require("redis-cli")
    workdir = tmp_path / "section"
    workdir.mkdir()
    section = Section(workdir)
    blocks = [block for block in BLOCKS if block.section == title]
    if any("data.db" in block.text for block in blocks):
        data_file_for(section)
    runners = {"session": run_session, "commands": run_commands, "python": run_python, "config": run_config}
    try:
        for block in blocks:
            if block.kind == "layout":
                check_layout(block)
            else:
                runners[block.kind](section, block)
    except BaseException:
        for server in section.servers.values():
            server.process.kill()
        raise
    section.finish()
