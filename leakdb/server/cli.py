"""The ``leakdb-server`` command: settings from a redis.conf-style file and Redis-style flags."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from typing import Any

from ..config import SETTINGS, Config, ConfigError
from ..version import REDIS_VERSION, __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leakdb-server",
        description="LeakDB: a Redis-protocol server over LeakDB's in-memory store with persistence.",
        epilog="Every flag may also be written in a config file, one 'name value' per line.",
    )
    parser.add_argument("config_file", nargs="?", help="a file in redis.conf syntax")
    parser.add_argument("--version", "-v", action="version", version=_version_line())
    for setting in SETTINGS.values():
        default = SETTINGS[setting.name].format(setting.default)
        help_text = f"{setting.help} (default: {default or repr('')})"
        parser.add_argument(
            f"--{setting.name}",
            dest=setting.name.replace("-", "_"),
            metavar=setting.metavar or setting.name.split("-")[-1].upper(),
            help=help_text,
            choices=setting.choices or None,
        )
    return parser


def _version_line() -> str:
    return f"LeakDB server v={__version__} redis_version={REDIS_VERSION}"


def load_config(argv: list[str]) -> Config:
    args = build_parser().parse_args(argv)
    config = Config()
    if args.config_file:
        config.load_file(args.config_file)
    for setting in SETTINGS.values():
        raw = getattr(args, setting.name.replace("-", "_"))
        if raw is not None:
            try:
                config.set(setting.name, raw, starting=True)
            except ConfigError:
                raise ConfigError(f"bad value for --{setting.name}: {raw!r}") from None
    return config


def make_storage_for(config: Config) -> Any:
    from ..storage import make_storage

    mode = config["storage"]
    filename = None
    if mode in ("persistent", "persistent-queue"):
        filename = os.path.join(config["dir"], config["dbfilename"])
    storage_class = config["storage-class"]
    if storage_class:
        module_name, _, class_name = storage_class.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        kwargs: dict[str, Any] = {"databases": config["databases"]}
        if filename is not None:
            kwargs["filename"] = filename
        return cls(**kwargs)
    upstream = config["upstream-cluster"] or config["upstream"]
    if config["backend"] == "redis" and mode not in ("persistent", "persistent-queue"):
        raise ConfigError("--backend redis needs --storage persistent or persistent-queue")
    if config["backend"] == "redis" and not upstream:
        raise ConfigError("--backend redis needs --upstream URL or --upstream-cluster URL,URL,...")
    return make_storage(
        mode,
        filename=None if config["backend"] == "redis" else filename,
        upstream=upstream or None,
        upstream_cluster=bool(config["upstream-cluster"]),
        upstream_load=config["upstream-load"],
        backend=config["backend"],
        maxsize=config["maxsize"],
        flush_interval=config["flush-interval"],
        workers=config["workers"],
        databases=config["databases"],
    )


def check_protected_mode(config: Config) -> str | None:
    """Why the server must not start (listening beyond loopback with no password), or None."""
    if not config["protected-mode"] or config["requirepass"]:
        return None
    loopback = {"127.0.0.1", "::1", "localhost", "-::1"}
    exposed = [host for host in config["bind"].split() if host not in loopback]
    if exposed:
        return (
            f"refusing to listen on {' '.join(exposed)} without a password: set --requirepass, "
            "or turn protection off with --protected-mode no"
        )
    return None


def server_main(argv: list[str] | None = None) -> int:
    from ..errors import StorageError
    from .listener import ListenError, Server, banner

    try:
        config = load_config(sys.argv[1:] if argv is None else argv)
    except (ConfigError, OSError) as exc:
        print(f"leakdb-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level={"debug": logging.DEBUG, "verbose": logging.INFO}.get(config["loglevel"], logging.WARNING),
        format="%(process)d:M %(asctime)s %(levelname).1s %(message)s",
        filename=config["logfile"] or None,
    )
    log = logging.getLogger("leakdb")
    problem = check_protected_mode(config)
    if problem:
        print(f"leakdb-server: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        storage = make_storage_for(config)
    except ConfigError as exc:
        print(f"leakdb-server: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        where = "" if config["backend"] == "redis" else "cannot open the data file: "
        print(f"leakdb-server: {where}{exc}", file=sys.stderr)
        return 1
    server = Server(storage, config)
    try:
        server.start()
    except ListenError as exc:
        print(f"leakdb-server: {exc}", file=sys.stderr)
        storage.close()
        return 1
    except OSError as exc:
        print(f"leakdb-server: cannot listen on port {config['port']}: {exc}", file=sys.stderr)
        storage.close()
        return 1
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
    log.info("serving")
    try:
        server.serve_forever()
    finally:
        if not server.shutting_down:
            server.shutdown(True)
    return 0
