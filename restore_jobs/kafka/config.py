"""Client settings for both Kafka clients, from ``spec.model.KafkaCluster`` and its secret references.

Secrets are resolved here, at the point of use, and only ever held inside a ``ClientConfig`` whose
repr hides them. Connection options map as follows:

===================  ==============================  ==========================================
spec connection       confluent-kafka (librdkafka)    kafka-python
===================  ==============================  ==========================================
tcpKeepalive          socket.keepalive.enable         SO_KEEPALIVE socket option
keepaliveTimeSecs     no setting: OS default applies  TCP_KEEPIDLE socket option (Linux)
keepaliveIntervalSecs no setting: OS default applies  TCP_KEEPINTVL socket option (Linux)
tcpNodelay            socket.nagle.disable            TCP_NODELAY socket option
connectionsPerBroker  no equivalent                   no equivalent
===================  ==============================  ==========================================

Both clients keep one connection per broker per client instance; parallelism comes from one
producer per restore unit instead, so ``connectionsPerBroker`` is accepted and not applied.
librdkafka offers no per-socket keepalive timing, so the host's ``net.ipv4.tcp_keepalive_*`` apply.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restore_jobs.spec.model import Connection, KafkaCluster, SecretKeyRef

if TYPE_CHECKING:
    from restore_jobs.storage.secrets import SecretResolver

# Keys whose values must never be shown, in either client's naming.
SECRET_KEYS = frozenset(
    {"sasl.password", "ssl.key.pem", "ssl.key.password", "sasl_plain_password", "ssl_password"}
)
REDACTED = "***"


class ClientConfig(dict[str, Any]):
    """Client settings as the client takes them; repr and str hide secret values."""

    def __repr__(self) -> str:
        shown = {k: (REDACTED if k in SECRET_KEYS else v) for k, v in self.items()}
        return f"ClientConfig({shown!r})"

    __str__ = __repr__

    def servers(self) -> str:
        """The bootstrap servers, for error messages."""
        value = self.get("bootstrap.servers", self.get("bootstrap_servers", ""))
        return value if isinstance(value, str) else ",".join(value)

    def redact(self, text: str) -> str:
        """``text`` with every secret value (and every line of a multi-line one) replaced."""
        for key in SECRET_KEYS & self.keys():
            value = self[key]
            if not isinstance(value, str) or not value:
                continue
            for piece in sorted({value, *(line for line in value.splitlines() if len(line) >= 8)}, key=len,
                                reverse=True):
                text = text.replace(piece, REDACTED)
        return text


@dataclass(frozen=True)
class _Material:
    """Resolved secret values; never printed."""

    ca_pem: bytes | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _uses_tls(cluster: KafkaCluster) -> bool:
    return cluster.security_protocol in ("SSL", "SASL_SSL")


def _uses_sasl(cluster: KafkaCluster) -> bool:
    return cluster.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _resolve(cluster: KafkaCluster, secrets: SecretResolver | None) -> _Material:
    def get(name: str, key: str, where: str) -> bytes:
        if secrets is None:
            raise ValueError(f"{where}: reading secret {name!r} needs a secret resolver")
        return secrets.get(SecretKeyRef(name, key))

    material: dict[str, Any] = {}
    tls = cluster.tls_secret
    if _uses_tls(cluster):
        if cluster.ca_secret is not None:
            material["ca_pem"] = get(cluster.ca_secret.name, cluster.ca_secret.ca_key, "kafkaCluster.caSecret")
        elif tls is not None:
            material["ca_pem"] = get(tls.name, tls.ca_key, "kafkaCluster.tlsSecret.caKey")
        if tls is not None and (tls.cert_key or tls.key_key):
            if not (tls.cert_key and tls.key_key):
                missing = "keyKey" if tls.cert_key else "certKey"
                raise ValueError(f"kafkaCluster.tlsSecret.{missing}: required when the other of "
                                 "certKey/keyKey is set")
            material["cert_pem"] = get(tls.name, tls.cert_key, "kafkaCluster.tlsSecret.certKey")
            material["key_pem"] = get(tls.name, tls.key_key, "kafkaCluster.tlsSecret.keyKey")
    if _uses_sasl(cluster):
        sasl = cluster.sasl_secret
        if sasl is None:
            raise ValueError(f"kafkaCluster.saslSecret: required when securityProtocol is "
                             f"{cluster.security_protocol}")
        material["mechanism"] = sasl.mechanism
        material["username"] = _text(get(sasl.name, sasl.username_key, "kafkaCluster.saslSecret.usernameKey"),
                                     "kafkaCluster.saslSecret.usernameKey")
        material["password"] = _text(get(sasl.name, sasl.password_key, "kafkaCluster.saslSecret.passwordKey"),
                                     "kafkaCluster.saslSecret.passwordKey")
    return _Material(**material)


def _text(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8").strip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: the secret value is not UTF-8 text") from None


def confluent_settings(cluster: KafkaCluster, secrets: SecretResolver | None = None) -> ClientConfig:
    """librdkafka properties; PEM material is passed in memory, never written to disk."""
    m = _resolve(cluster, secrets)
    conn = cluster.connection or Connection()
    config = ClientConfig({
        "bootstrap.servers": ",".join(cluster.bootstrap_servers),
        "security.protocol": cluster.security_protocol,
        "client.id": "kafka-restore",
        "socket.keepalive.enable": conn.tcp_keepalive,
        "socket.nagle.disable": conn.tcp_nodelay,
    })
    if m.ca_pem is not None:
        config["ssl.ca.pem"] = m.ca_pem.decode("ascii", errors="replace")
    if m.cert_pem is not None and m.key_pem is not None:
        config["ssl.certificate.pem"] = m.cert_pem.decode("ascii", errors="replace")
        config["ssl.key.pem"] = m.key_pem.decode("ascii", errors="replace")
    if m.mechanism is not None:
        config.update({"sasl.mechanism": m.mechanism, "sasl.username": m.username, "sasl.password": m.password})
    return config


def kafkapython_settings(cluster: KafkaCluster, secrets: SecretResolver | None = None) -> ClientConfig:
    """kafka-python keyword arguments; TLS goes in as a ready ``ssl.SSLContext``."""
    m = _resolve(cluster, secrets)
    conn = cluster.connection or Connection()
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(conn.tcp_nodelay)),
               (socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(conn.tcp_keepalive))]
    if conn.tcp_keepalive and hasattr(socket, "TCP_KEEPIDLE"):
        options += [(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, conn.keepalive_time_secs),
                    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, conn.keepalive_interval_secs)]
    config = ClientConfig({
        "bootstrap_servers": list(cluster.bootstrap_servers),
        "security_protocol": cluster.security_protocol,
        "client_id": "kafka-restore",
        "socket_options": options,
    })
    if _uses_tls(cluster):
        config["ssl_context"] = ssl_context(m)
    if m.mechanism is not None:
        config.update({"sasl_mechanism": m.mechanism, "sasl_plain_username": m.username,
                       "sasl_plain_password": m.password})
    return config


def ssl_context(m: _Material) -> ssl.SSLContext:
    """A verifying context; the client key touches disk only for ``load_cert_chain`` (0600, private
    directory, deleted at once) because Python's ssl module cannot load a key from memory."""
    try:
        context = ssl.create_default_context(cadata=m.ca_pem.decode("ascii") if m.ca_pem else None)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"kafkaCluster CA certificate: not a valid PEM certificate ({type(exc).__name__})") from None
    if m.cert_pem is not None and m.key_pem is not None:
        with tempfile.TemporaryDirectory(prefix="kafka-restore-tls-") as directory:
            cert_path, key_path = Path(directory, "client.crt"), Path(directory, "client.key")
            for path, data in ((cert_path, m.cert_pem), (key_path, m.key_pem)):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                    f.write(data)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as exc:
                raise ValueError(
                    f"kafkaCluster.tlsSecret: client certificate and key do not load ({exc.reason or 'SSLError'})"
                ) from None
    return context
