"""A security front for a Tansu broker: TLS termination and SASL/PLAIN authentication.

Tansu 0.6 cannot serve either itself here: its ``--cert`` and ``--key`` flags are mutually
exclusive (clap refuses both together) and neither alone turns TLS on (the listener stays plain
TCP), and SCRAM users made with ``tansu user create`` live in the memory store only, which
``--authentication`` needs at start, when ``user create`` can no longer log in ("early eof"). So
the gateway does what a secured broker does on the wire, and forwards everything else to a real
Tansu that advertises the gateway's address: clients see one secured broker.

With SASL, a connection may only send ApiVersions, SaslHandshake and SaslAuthenticate until it
has authenticated; a wrong password gets Kafka's SASL_AUTHENTICATION_FAILED (58) and the
connection is closed, as Kafka does.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from dataclasses import dataclass, field

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED = 58
UNSUPPORTED_SASL_MECHANISM = 33


@dataclass
class Gateway:
    upstream: tuple[str, int]
    port: int
    tls: ssl.SSLContext | None = None
    users: dict[str, str] | None = None  # SASL/PLAIN users; None: no authentication
    failed_logins: int = 0
    _server: socket.socket | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self) -> Gateway:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client.settimeout(10)
                client = self.tls.wrap_socket(client, server_side=True)
                client.settimeout(None)
            upstream = socket.create_connection(self.upstream)
        except (OSError, ssl.SSLError):
            client.close()
            return
        with client, upstream:
            if self.users is not None and not self._authenticate(client, upstream):
                return
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            _pipe(client, upstream)

    def _authenticate(self, client: socket.socket, upstream: socket.socket) -> bool:
        while True:
            frame = _read_frame(client)
            if frame is None:
                return False
            api_key, version, correlation = struct.unpack_from(">hhi", frame)
            if api_key == API_VERSIONS:
                upstream.sendall(struct.pack(">i", len(frame)) + frame)
                reply = _read_frame(upstream)
                if reply is None:
                    return False
                _send(client, reply)
            elif api_key == SASL_HANDSHAKE:
                mechanism = _string(frame, _body_start(frame, flexible=False))
                code = 0 if mechanism == "PLAIN" else UNSUPPORTED_SASL_MECHANISM
                _send(client, struct.pack(">ihi", correlation, code, 1) + _short_string("PLAIN"))
            elif api_key == SASL_AUTHENTICATE:
                ok = self._check_plain(_auth_bytes(frame, version))
                self.failed_logins += not ok
                _send(client, _authenticate_response(correlation, version, ok))
                return ok
            else:
                return False  # anything else before authenticating: drop the connection

    def _check_plain(self, token: bytes) -> bool:
        parts = token.split(b"\0")
        if len(parts) != 3 or self.users is None:
            return False
        user, password = parts[1].decode(errors="replace"), parts[2].decode(errors="replace")
        return self.users.get(user) == password


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> bytes | None:
    size = _read_exact(sock, 4)
    return None if size is None else _read_exact(sock, struct.unpack(">i", size)[0])


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">i", len(payload)) + payload)


def _short_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def _string(frame: bytes, pos: int) -> str:
    (n,) = struct.unpack_from(">h", frame, pos)
    return frame[pos + 2 : pos + 2 + n].decode(errors="replace")


def _uvarint(frame: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = frame[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _body_start(frame: bytes, flexible: bool) -> int:
    """After the request header: api key, version, correlation id, client id (and tags if flexible)."""
    (client_len,) = struct.unpack_from(">h", frame, 8)
    pos = 10 + max(client_len, 0)
    if flexible:
        tags, pos = _uvarint(frame, pos)
        for _ in range(tags):
            _tag, pos = _uvarint(frame, pos)
            size, pos = _uvarint(frame, pos)
            pos += size
    return pos


def _auth_bytes(frame: bytes, version: int) -> bytes:
    pos = _body_start(frame, flexible=version >= 2)
    if version >= 2:
        size, pos = _uvarint(frame, pos)
        return frame[pos : pos + size - 1]
    (size,) = struct.unpack_from(">i", frame, pos)
    return frame[pos + 4 : pos + 4 + size]


def _authenticate_response(correlation: int, version: int, ok: bool) -> bytes:
    code = 0 if ok else SASL_AUTHENTICATION_FAILED
    message = None if ok else "Authentication failed: invalid username or password"
    if version >= 2:
        text = b"\x00" if message is None else bytes([len(message) + 1]) + message.encode()
        return (struct.pack(">i", correlation) + b"\x00" + struct.pack(">h", code) + text + b"\x01"
                + struct.pack(">q", 0) + b"\x00")
    text = struct.pack(">h", -1) if message is None else _short_string(message)
    body = struct.pack(">ih", correlation, code) + text + struct.pack(">i", 0)
    return body + (struct.pack(">q", 0) if version >= 1 else b"")
