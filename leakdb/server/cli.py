"""The ``leakdb-server`` command: settings from a redis.conf-style file and Redis-style flags.

Every mistake ends the command with one line on standard error and no traceback: exit status 2
when a setting is wrong (a flag, a config file line, a storage class that cannot be used), 1 when
the server cannot start with them (directory, port, log file, data file).  Start-up runs in the
order that leaves nothing behind: settings, storage class, directory, the listening sockets, the
log file, and the data file last.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import logging
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NoReturn

from .. import errors
from ..config import SETTINGS, Config, ConfigError, check_protected_mode
from ..version import REDIS_VERSION, __version__


class StartupError(Exception):
    """Why the server cannot start: one line for the user, and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage first: dozens of flags before the one line that matters.
        self.exit(2, f"{self.prog}: error: {errors.USAGE_HINT.format(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="leakdb-server",
        allow_abbrev=False,  # as redis-server: --prot is not --protected-mode
        description="LeakDB: a Redis-protocol server over LeakDB's in-memory store with persistence.",
        epilog="Every flag may also be written in a config file, one 'name value' per line.",
    )
    parser.add_argument("config_file", nargs="?", help="a file in redis.conf syntax")
    parser.add_argument("--version", "-v", action="version", version=_version_line())
    for setting in SETTINGS.values():
        default = setting.format(setting.default)
        choices = f"one of {', '.join(setting.choices)}; " if setting.choices else ""
        inert = f"; no effect in LeakDB: {setting.inert}" if setting.inert else ""
        parser.add_argument(
            f"--{setting.name}",
            dest=setting.name.replace("-", "_"),
            # As redis-server: --save 3600 1 300 100 takes the words up to the next flag.
            nargs="+" if setting.many_words else None,
            metavar=setting.metavar or setting.name.split("-")[-1].upper(),
            # Values are checked by the settings table (as a config file's and CONFIG SET's are).
            # argparse formats help with %: a literal one (maxmemory-clients' 10%) is doubled.
            help=f"{setting.help} ({choices}default: {default or repr('')}{inert})".replace("%", "%%"),
        )
    return parser


def _version_line() -> str:
    return f"LeakDB server v={__version__} redis_version={REDIS_VERSION}"


def load_config(argv: list[str]) -> Config:
    """The settings: defaults, then the config file, then the flags.  Raises ConfigError."""
    args = build_parser().parse_args(argv)
    config = Config()
    if args.config_file:
        config.load_file(args.config_file)
    for setting in SETTINGS.values():
        raw = getattr(args, setting.name.replace("-", "_"))
        if raw is not None:
            raw = " ".join(raw) if isinstance(raw, list) else raw
            try:
                config.set(setting.name, raw, starting=True)
            except ConfigError as exc:
                raise ConfigError(errors.CONFIG_FLAG_ERROR.format(setting.name, raw, exc.reason)) from None
            if setting.inert:
                config.warnings.append(errors.FLAG_NO_EFFECT.format(setting.name, setting.inert))
    _storage_from_appendonly(config)
    return config


def _storage_from_appendonly(config: Config) -> None:
    """``appendonly yes`` from a Redis config, with no --storage: a persistent mode that matches
    appendfsync (always: every write is in the file before its reply; everysec and no: written
    behind, everysec once a second)."""
    if not config["appendonly"] or "storage" in config.given:
        return
    if config["appendfsync"] == "always":
        config.values["storage"] = "persistent"
    else:
        config.values["storage"] = "persistent-queue"
        if config["appendfsync"] == "everysec" and "flush-interval" not in config.given:
            config.values["flush-interval"] = 1.0


def apply_renames(config: Config) -> None:
    """The config file's rename-command lines, applied to the command table as Redis applies them."""
    from ..commands.registry import rename_command

    for path, number, line, old, new in config.renames:
        reason = rename_command(old, new)
        if reason:
            raise ConfigError(errors.CONFIG_FILE_ERROR.format(path, number, "rename-command", reason, line))


def write_pidfile(config: Config) -> None:
    path = config["pidfile"]
    if path:
        try:
            with open(path, "w") as handle:
                handle.write(f"{os.getpid()}\n")
        except OSError as exc:
            # Redis goes on without one; so does LeakDB, saying why.
            logging.getLogger("leakdb").warning("Failed to write PID file %s: %s", path, exc.strerror or exc)


# -- the storage -------------------------------------------------------------------------------------


def _data_file(config: Config) -> str:
    return os.path.join(config["dir"], config["dbfilename"])


def _storage_arguments(config: Config) -> dict[str, Any]:
    """What the server can pass to a storage's constructor, by parameter name."""
    return {
        "filename": _data_file(config),
        "backend": config["backend"],
        "maxsize": config["maxsize"],
        "flush_interval": config["flush-interval"],
        "workers": config["workers"],
        "databases": config["databases"],
    }


def _accepted_parameters(cls: type) -> set[str] | None:
    """The keyword parameters `cls(...)` accepts, following ``**kwargs`` that an ``__init__`` hands to
    the next class in the MRO; None when that cannot be told."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            return names
        try:
            parameters = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        kinds = {parameter.kind for parameter in parameters}
        names.update(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if inspect.Parameter.VAR_KEYWORD not in kinds:
            return names
    return names


def _import_storage_class(path: str) -> type:
    """The class named by ``module:Class``, found as ``python -m`` finds modules: the current
    directory first.  Raises StartupError (2 for a name that does not resolve)."""
    from ..storage import DefaultStorage

    module_name, _, class_name = path.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StartupError(errors.STORAGE_CLASS_NO_MODULE.format(path, exc.name), 2) from None
        raise StartupError(errors.STORAGE_CLASS_IMPORT_FAILED.format(path, module_name, _why(exc))) from None
    except Exception as exc:
        raise StartupError(errors.STORAGE_CLASS_IMPORT_FAILED.format(path, module_name, _why(exc))) from None
    for part in class_name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise StartupError(
                errors.STORAGE_CLASS_NO_ATTRIBUTE.format(path, module_name, class_name), 2
            ) from None
    if not (isinstance(target, type) and issubclass(target, DefaultStorage)):
        raise StartupError(errors.STORAGE_CLASS_NOT_STORAGE.format(path, class_name), 2)
    return target


def _class_factory(config: Config) -> tuple[Callable[[], Any], bool]:
    """A user's storage class, checked before anything is created: its constructor gets the settings
    it names (filename, backend, maxsize, flush_interval, workers, databases) and no others."""
    path = config["storage-class"]
    cls = _import_storage_class(path)
    if "storage" in config.given and config["storage"] != cls.mode:
        raise StartupError(errors.STORAGE_CLASS_MODE.format(config["storage"], path, cls.mode), 2)
    config.values["storage"] = cls.mode  # so that CONFIG GET storage says what INFO says
    offered = _storage_arguments(config)
    accepted = _accepted_parameters(cls)
    kwargs = {name: value for name, value in offered.items() if accepted is None or name in accepted}
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        raise StartupError(
            errors.STORAGE_CLASS_SIGNATURE.format(path, cls.__name__, inspect.signature(cls), exc), 2
        ) from None
    except ValueError:
        pass  # no signature to check against: the call itself will tell

    def create() -> Any:
        try:
            return cls(**kwargs)
        except errors.StorageError as exc:
            raise StartupError(errors.DATA_FILE_ERROR.format(exc)) from None
        except Exception as exc:
            raise StartupError(errors.STORAGE_CLASS_FAILED.format(path, _why(exc))) from None

    return create, "filename" in kwargs


def storage_factory(config: Config) -> tuple[Callable[[], Any], str | None]:
    """How to create the storage, and the data file it will use (None for the modes without one).
    Nothing is created yet: the server calls the factory once it can really start."""
    if config["storage-class"]:
        create, uses_file = _class_factory(config)
        return create, _data_file(config) if uses_file else None
    from ..storage import make_storage

    mode = config["storage"]
    filename = _data_file(config) if mode in ("persistent", "persistent-queue") else None
    arguments = _storage_arguments(config)
    if config["backend"] == "redis":
        upstream = config["upstream-cluster"] or config["upstream"]
        if mode not in ("persistent", "persistent-queue"):
            raise StartupError(errors.UPSTREAM_NEEDS_PERSISTENT_MODE, 2)
        if not upstream:
            raise StartupError(errors.UPSTREAM_MISSING, 2)
        filename = None  # the upstream is the system of record: no data file
        arguments.update(
            upstream=upstream,
            upstream_cluster=bool(config["upstream-cluster"]),
            upstream_load=config["upstream-load"],
        )
    arguments["filename"] = filename

    def create() -> Any:
        try:
            return make_storage(mode, **arguments)
        except errors.StorageError as exc:
            if config["backend"] == "redis":
                raise StartupError(str(exc)) from None
            raise StartupError(errors.DATA_FILE_ERROR.format(exc)) from None
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(errors.DATA_FILE_ERROR.format(exc)) from None

    return create, filename


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- the checks before anything is created -------------------------------------------------------------


def check_data_file(filename: str) -> None:
    """The data file's directory must exist and take new files, and an existing data file must be
    writable; checked by trying, so that a read-only mount or /proc is caught.  Leaves nothing."""
    directory = os.path.dirname(filename) or "."
    if not os.path.isdir(directory):
        exists = os.path.exists(directory)
        reason = errors.DATA_DIR_NOT_DIRECTORY if exists else errors.DATA_DIR_MISSING
        raise StartupError(errors.DATA_DIR_ERROR.format(directory, reason))
    try:
        handle, probe = tempfile.mkstemp(prefix=".leakdb-probe-", dir=directory)
    except OSError as exc:
        reason = errors.DATA_DIR_NOT_WRITABLE.format(exc.strerror or exc)
        raise StartupError(errors.DATA_DIR_ERROR.format(directory, reason)) from None
    os.close(handle)
    os.unlink(probe)
    from ..persistence.shelve import SUFFIXES

    for suffix in (*SUFFIXES, ".bak", "-wal", "-shm"):
        path = filename + suffix
        if os.path.isfile(path) and not os.access(path, os.R_OK | os.W_OK):
            raise StartupError(errors.DATA_FILE_READONLY.format(path, os.strerror(errno.EACCES)))


def configure_logging(config: Config) -> None:
    level = {"debug": logging.DEBUG, "verbose": logging.INFO}.get(config["loglevel"], logging.WARNING)
    handler: logging.Handler
    if config["logfile"]:
        try:
            handler = logging.FileHandler(config["logfile"])
        except OSError as exc:
            raise StartupError(errors.LOG_FILE_ERROR.format(config["logfile"], exc.strerror or exc)) from None
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(process)d:M %(asctime)s %(levelname).1s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def bind(config: Config) -> list[Any]:
    from .listener import ListenError, ListenSetupError, bind_sockets

    try:
        return bind_sockets(config)
    except ListenSetupError as exc:
        raise StartupError(str(exc)) from None
    except ListenError as exc:
        message = errors.LISTEN_ERROR.format(exc.host, exc.port, exc.reason)
        if exc.errno == errno.EADDRINUSE:
            message += errors.PORT_IN_USE_HINT
        raise StartupError(message) from None


# -- the command -----------------------------------------------------------------------------------------


def server_main(argv: list[str] | None = None) -> int:
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"leakdb-server: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"leakdb-server: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"leakdb-server: {errors.INTERRUPTED}", file=sys.stderr)
        return 130


def _load_users(server: object) -> None:
    """The aclfile or the config file's user lines, read before any client connects."""
    from ..commands.acl import state_of
    from ..errors import CommandError

    try:
        state_of(server)
    except CommandError as exc:
        raise StartupError(str(exc).removeprefix("ERR "), 1) from None


def _run(argv: list[str]) -> int:
    config = load_config(argv)
    apply_renames(config)
    problem = check_protected_mode(config)
    if problem:
        raise StartupError(problem, 2)
    create_storage, filename = storage_factory(config)
    if filename is not None:
        check_data_file(filename)
    started = time.monotonic()
    listeners = bind(config)
    try:
        configure_logging(config)
        for warning in config.warnings:
            logging.getLogger("leakdb").warning(warning)
        storage = create_storage()
    except BaseException:
        for _, sock in listeners:
            sock.close()
        raise
    from .listener import Server, banner

    server = Server(storage, config)
    _load_users(server)
    server.start(listeners)
    info = storage.info()
    print(banner(server), flush=True)
    print(
        f"storage={info.get('mode')} backend={info.get('backend') or '-'} "
        f"file={info.get('filename') or '-'} keys_loaded={info.get('keys_loaded', 0)} "
        f"load_time={time.monotonic() - started:.3f}s",
        flush=True,
    )
    if server.port:
        print(f"Ready to accept connections tcp on port {server.port}", flush=True)
    if server.tls_port:
        print(f"Ready to accept connections tls on port {server.tls_port}", flush=True)
    if server.unix_socket:
        print(f"Ready to accept connections unix at {server.unix_socket}", flush=True)
    logging.getLogger("leakdb").info("serving")
    write_pidfile(config)
    try:
        server.serve_forever()
    finally:
        if not server.shutting_down:
            server.shutdown(True)
        if config["pidfile"]:
            try:
                os.unlink(config["pidfile"])
            except OSError:
                pass
    return 1 if server.close_error is not None else 0
