"""TLS for the server: the SSL context built from the tls-* settings, and handshakes on the hub.

A handshake runs on read and write watchers, one step each time the socket is ready, so a client that
stalls or sends garbage holds no one else up.  Only a finished handshake becomes a client, served by
:class:`~leakdb.server.client.TLSClient` like any other.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger("leakdb.server")

# A handshake not finished by then is dropped: it holds a descriptor, and a real client is far faster.
HANDSHAKE_SECONDS = 10.0

_PROTOCOLS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}


class TLSConfigError(Exception):
    """The tls-* settings do not make a usable context; the text says which file or value."""


def build_context(config: Any) -> ssl.SSLContext:
    """A server-side SSLContext for the tls-* settings, as Redis 7.0 reads them."""
    cert, key = config["tls-cert-file"], config["tls-key-file"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    protocols = config["tls-protocols"].lower().split()
    if protocols:
        unknown = [name for name in protocols if name not in _PROTOCOLS]
        if unknown:
            raise TLSConfigError(f"tls-protocols: unknown protocol {' '.join(unknown)}")
        versions = sorted(_PROTOCOLS[name] for name in protocols)
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # Redis's default: TLSv1.2 and TLSv1.3
    # Each file is loaded on its own, so the one line the user sees names the setting that is wrong.
    steps: list[tuple[str, Callable[[], Any]]] = []
    if config["tls-ciphers"]:
        steps.append(("tls-ciphers", lambda: context.set_ciphers(config["tls-ciphers"])))
    ca_file, ca_dir = config["tls-ca-cert-file"] or None, config["tls-ca-cert-dir"] or None
    if ca_file:
        steps.append(("tls-ca-cert-file", lambda: context.load_verify_locations(cafile=ca_file)))
    if ca_dir:
        steps.append(("tls-ca-cert-dir", lambda: _load_ca_dir(context, ca_dir)))
    if config["tls-dh-params-file"]:
        steps.append(("tls-dh-params-file", lambda: context.load_dh_params(config["tls-dh-params-file"])))
    password = config["tls-key-file-pass"] or None
    steps.append(
        ("tls-cert-file/tls-key-file", lambda: context.load_cert_chain(cert, key, password=password))
    )
    for name, step in steps:
        try:
            step()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TLSConfigError(f"{name}: {getattr(exc, 'strerror', None) or exc}") from None
    if config["tls-ciphersuites"]:
        # Python's ssl has no setter for TLSv1.3 suites; OpenSSL reads them from the cipher string
        # only for TLSv1.2, so the setting is checked and kept but the defaults stay in force.
        log.warning("tls-ciphersuites is accepted but LeakDB uses OpenSSL's TLSv1.3 defaults")
    auth = config["tls-auth-clients"]
    if auth == "yes":
        context.verify_mode = ssl.CERT_REQUIRED
    elif auth == "optional":
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        context.verify_mode = ssl.CERT_NONE
    if context.verify_mode != ssl.CERT_NONE and not (config["tls-ca-cert-file"] or config["tls-ca-cert-dir"]):
        raise TLSConfigError("tls-auth-clients needs tls-ca-cert-file or tls-ca-cert-dir")
    if config["tls-prefer-server-ciphers"]:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if not config["tls-session-caching"]:
        context.options |= ssl.OP_NO_TICKET
    return context


def _load_pair(context: ssl.SSLContext, cert: str, key: str, password: str | None) -> None:
    if not cert or not key:
        raise ValueError("tls-port needs both tls-cert-file and tls-key-file")
    context.load_cert_chain(cert, key, password=password)


def _load_ca_dir(context: ssl.SSLContext, directory: str) -> None:
    if not os.path.isdir(directory):
        raise OSError(errno.ENOENT, f"no directory {directory}")
    context.load_verify_locations(capath=directory)


class Handshake:
    """One TLS handshake in progress on a non-blocking socket; `done(tls_socket, address)` gets the
    socket once it is established.  Failures are logged and the socket closed."""

    def __init__(
        self,
        loop: Any,
        context: ssl.SSLContext,
        sock: socket.socket,
        address: Any,
        done: Callable[[ssl.SSLSocket, Any], None],
    ) -> None:
        self.address = address
        self.done = done
        self.tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        fd = self.tls.fileno()
        self._readable = loop.io(fd, 1)
        self._writable = loop.io(fd, 2)
        self._deadline = loop.timer(HANDSHAKE_SECONDS)
        self._deadline.start(self._give_up)
        self._step()

    def _step(self) -> None:
        self._readable.stop()
        self._writable.stop()
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._readable.start(self._step)
            return
        except ssl.SSLWantWriteError:
            self._writable.start(self._step)
            return
        except (OSError, ValueError) as exc:
            log.info("TLS handshake with %s failed: %s", self.address, exc)
            self._finish()
            self.tls.close()
            return
        self._finish()
        self.done(self.tls, self.address)

    def _give_up(self) -> None:
        log.info("TLS handshake with %s timed out", self.address)
        self._readable.stop()
        self._writable.stop()
        self._finish()
        self.tls.close()

    def _finish(self) -> None:
        self._deadline.stop()
        for watcher in (self._readable, self._writable, self._deadline):
            watcher.close()
