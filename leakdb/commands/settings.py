"""CONFIG GET, SET, RESETSTAT, REWRITE and HELP over the settings table (:mod:`leakdb.config`).

CONFIG SET takes several pairs and applies them all or none, as Redis 7 does: every name is checked
first (unknown, immutable, protected, given twice), then every value, and only then are they stored;
what must happen for a new value to take effect (listening on a new port, new TLS certificates) is done
last, and a failure there puts every value back.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

from .. import errors
from ..config import SETTINGS, BadValue, ConfigError, canonical, check_protected_mode
from ..engine import encodings
from ..errors import CommandError, SyntaxErrorReply
from ..resp import OK
from . import diskerror, notifications
from .connection import help_reply
from .eviction import configure_memory
from .instruments import instruments_of
from .registry import command, dispatch_sub, subcommand

log = logging.getLogger("leakdb.server")

CONFIG_FLAGS = "admin noscript loading stale"
# Settings whose new value needs the listening sockets bound again.
LISTEN_SETTINGS = {"port", "bind", "tls-port"}


@command("config", -2, "", group="server", since="2.0.0", summary="A container for server configuration")
def config_(client, args):
    return dispatch_sub(client, args)


def _has_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


@subcommand("config", "get", -3, CONFIG_FLAGS, summary="Get the values of configuration parameters")
def config_get(client, args):
    config = client.server.config
    found: dict[str, str] = {}
    for raw in args[2:]:
        pattern = raw.decode("utf-8", "replace")
        if _has_glob(pattern):
            for name, value in config.get(pattern):
                found.setdefault(name, value)
        elif canonical(pattern) in SETTINGS:
            # Redis answers an exact name with the name as the client spelt it.
            found.setdefault(pattern, SETTINGS[canonical(pattern)].format(config[canonical(pattern)]))
    return client.resp.map(list(found.items()))


def _checked_pairs(config: Any, args: list[bytes]) -> list[tuple[str, str, Any]]:
    """CONFIG SET's (name, text, value) after Redis's checks, in its order: names first (all), then
    values (all)."""
    pairs = [
        (args[i].decode("utf-8", "replace"), args[i + 1].decode("utf-8", "replace"))
        for i in range(2, len(args), 2)
    ]
    seen: set[str] = set()
    for name, _ in pairs:
        setting = SETTINGS.get(canonical(name))
        if setting is None:
            raise CommandError(errors.CONFIG_UNKNOWN.format(name))
        if not setting.mutable:
            raise CommandError(errors.CONFIG_IMMUTABLE.format(name))
        if setting.protected:
            raise CommandError(errors.CONFIG_PROTECTED.format(name))
        if name.lower() in seen:
            raise CommandError(errors.CONFIG_DUPLICATE.format(name))
        seen.add(name.lower())
    checked = []
    for name, raw in pairs:
        setting = SETTINGS[canonical(name)]
        try:
            value = config.parse(name, raw)
        except ConfigError as exc:
            raise CommandError(f"ERR {exc}") from None
        if setting.fixed and value != config[setting.name]:
            raise CommandError(errors.CONFIG_BAD_VALUE.format(name, setting.fixed))
        checked.append((name, raw, value))
    return checked


@subcommand("config", "set", -4, CONFIG_FLAGS, summary="Set configuration parameters to the given values")
def config_set(client, args):
    if len(args) % 2:
        raise SyntaxErrorReply()
    server = client.server
    config = server.config
    pairs = _checked_pairs(config, args)
    previous = dict(config.values)
    for name, raw, _ in pairs:
        config.set(name, raw)
    try:
        _take_effect(server, [name for name, _, _ in pairs], previous)
    except CommandError:
        config.values = previous
        raise
    return OK


def _take_effect(server: Any, names: list[str], previous: dict[str, Any]) -> None:
    """Make the new values act; CommandError (in Redis's words) when one cannot."""
    config = server.config
    changed = [name for name in names if config[canonical(name)] != previous[canonical(name)]]
    listen = [name for name in changed if canonical(name) in LISTEN_SETTINGS]
    if listen:
        try:
            server.relisten(previous)
        except OSError as exc:
            log.warning("Listening sockets not changed: %s", exc)
            reason = (
                errors.CONFIG_BIND_FAILED if canonical(listen[0]) == "bind" else errors.CONFIG_PORT_FAILED
            )
            raise CommandError(errors.CONFIG_BAD_VALUE.format(listen[0], reason)) from None
        problem = check_protected_mode(config)
        if problem:
            # Redis would listen and turn other hosts' clients away; LeakDB does not open up.  No
            # connection was accepted meanwhile: the event loop has not run.
            new_values = dict(config.values)
            config.values = previous
            server.relisten(new_values)
            raise CommandError(errors.CONFIG_BAD_VALUE.format(listen[0], problem))
    tls_names = [name for name in names if name.lower().startswith("tls-")]
    if tls_names:
        try:
            server.reload_tls()  # new connections use the new certificates
        except Exception as exc:
            log.warning("TLS configuration not changed: %s", exc)
            if listen:
                new_values = dict(config.values)
                config.values = previous
                server.relisten(new_values)
            raise CommandError(
                f"ERR CONFIG SET failed (possibly related to argument '{tls_names[0]}') - "
                "Unable to update TLS configuration. Check server logs."
            ) from None
    if "hz" in (canonical(name) for name in changed):
        server.configure_hz()
    encodings.configure(config.values)  # the encoding thresholds apply to the next write
    configure_memory(server)  # a new maxmemory or policy applies at once
    server.configure_clients()  # and maxmemory-clients
    diskerror.update(server)  # stop-writes-on-bgsave-error applies at once
    notifications.configure(server)  # and notify-keyspace-events
    instruments_of(server).configure(config)  # slowlog-*, latency-*


@subcommand("config", "resetstat", 2, CONFIG_FLAGS, summary="Reset the stats returned by INFO")
def config_resetstat(client, args):
    stats = client.server.stats
    for name, value in vars(stats).items():
        if isinstance(value, int):
            setattr(stats, name, 0)
    instruments_of(client.server).reset_stats()
    return OK


# -- CONFIG REWRITE --------------------------------------------------------------------------------


def _quote(value: str) -> str:
    if value and not any(char in value for char in " \t\r\n\"'\\"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _line(name: str, value: str) -> str:
    """A setting's config file line; a value of several words (save, bind) is written bare, as
    Redis writes it, and read back as the same words."""
    if SETTINGS[name].many_words and value:
        return f"{name} {' '.join(_quote(word) for word in value.split())}"
    return f"{name} {_quote(value)}"


def _loadable(name: str, value: str) -> bool:
    """Whether a line can say this value (an empty replicaof is said by having no line)."""
    try:
        SETTINGS[name].parse(value)
    except BadValue:
        return not SETTINGS[name].many_words
    return True


def rewritten_lines(lines: list[str], current: dict[str, str], defaults: dict[str, str]) -> list[str]:
    """The config file's lines with each setting's line showing its current value.

    Comments, directives that are not settings (include, rename-command, user) stay as they are; an
    alias's line is rewritten under the setting's own name; the second and later lines of a setting
    (save, client-output-buffer-limit) are folded into its first; settings that differ from their
    default and had no line get one at the end, as Redis's CONFIG REWRITE does.  LeakDB's own
    settings are only rewritten where the file already has them, so that a file redis-server loads
    stays one it loads.
    """
    output = []
    written: set[str] = set()
    for line in lines:
        words = line.split(None, 1)
        name = canonical(words[0]) if words and not words[0].startswith("#") else ""
        if name in current:
            if name not in written and _loadable(name, current[name]):
                output.append(_line(name, current[name]))
                written.add(name)
            continue
        output.append(line)
    missing = [
        name
        for name in current
        if name not in written and current[name] != defaults[name] and not SETTINGS[name].hidden
    ]
    if missing:
        output.append("# Generated by CONFIG REWRITE")
        output.extend(_line(name, current[name]) for name in missing)
    return output


def rewrite_config_file(config: Any) -> None:
    path = config.file
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    current = {name: SETTINGS[name].format(value) for name, value in config.values.items()}
    defaults = {name: setting.format(setting.default) for name, setting in SETTINGS.items()}
    text = "\n".join(rewritten_lines(lines, current, defaults)) + "\n"
    # Write a sibling file and rename it over the old one, so a crash never leaves half a config.
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".leakdb-config-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@subcommand("config", "rewrite", 2, CONFIG_FLAGS, summary="Rewrite the configuration file")
def config_rewrite(client, args):
    config = client.server.config
    if not config.file:
        raise CommandError(errors.NO_CONFIG_FILE)
    try:
        rewrite_config_file(config)
    except OSError as exc:
        raise CommandError(errors.CONFIG_REWRITE_FAILED.format(exc.strerror or exc)) from None
    return OK


CONFIG_HELP = [
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
]


@subcommand("config", "help", 2, "loading stale", summary="Show help on the subcommands")
def config_help(client, args):
    return help_reply(client, "config", CONFIG_HELP)
