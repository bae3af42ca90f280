"""Client settings from the spec: security protocols, secret precedence, connection options, and
that no secret value ever shows in a repr or an error."""

from __future__ import annotations

import datetime
import socket
import ssl
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from restore_jobs.kafka.client import KafkaError
from restore_jobs.kafka.config import ClientConfig, confluent_settings, kafkapython_settings
from restore_jobs.kafka.confluent_client import ConfluentAdmin
from restore_jobs.kafka.errors import build_client
from restore_jobs.spec.model import CaSecret, Connection, KafkaCluster, SaslSecret, SecretKeyRef, TlsSecret

PASSWORD = "s3cr3t-Pa55word"


def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
          ca: bool) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _pki() -> dict[str, bytes]:
    ca_key, other_ca_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    return {
        "ca": _cert("tls-secret-ca", ca_key, "tls-secret-ca", ca_key, ca=True),
        "other_ca": _cert("ca-secret-ca", other_ca_key, "ca-secret-ca", other_ca_key, ca=True),
        "cert": _cert("client", client_key, "tls-secret-ca", ca_key, ca=False),
        "key": client_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
    }


PKI = _pki()


class Secrets:
    """Stands in for storage.secrets.SecretResolver: only ``get`` is used."""

    def __init__(self, values: dict[tuple[str, str], bytes]):
        self.values = values
        self.asked: list[SecretKeyRef] = []

    def get(self, ref: SecretKeyRef) -> bytes:
        self.asked.append(ref)
        return self.values[(ref.name, ref.key)]


def secrets(key: bytes = PKI["key"]) -> Secrets:
    return Secrets({
        ("kafka-tls", "ca.crt"): PKI["ca"],
        ("kafka-tls", "tls.crt"): PKI["cert"],
        ("kafka-tls", "tls.key"): key,
        ("kafka-ca", "root.pem"): PKI["other_ca"],
        ("kafka-sasl", "user"): b"restore-bot\n",
        ("kafka-sasl", "pass"): PASSWORD.encode(),
    })


TLS = TlsSecret("kafka-tls", cert_key="tls.crt", key_key="tls.key")
SASL = SaslSecret("kafka-sasl", "SCRAM-SHA-512", username_key="user", password_key="pass")


def cluster(protocol: str = "PLAINTEXT", **kwargs: object) -> KafkaCluster:
    return KafkaCluster(bootstrap_servers=["b1:9093", "b2:9093"], security_protocol=protocol, **kwargs)  # type: ignore[arg-type]


def test_plaintext_maps_servers_and_connection_options() -> None:
    conn = Connection(tcp_keepalive=True, keepalive_time_secs=45, keepalive_interval_secs=7, tcp_nodelay=False)
    c = confluent_settings(cluster(connection=conn))
    assert dict(c) == {
        "bootstrap.servers": "b1:9093,b2:9093", "security.protocol": "PLAINTEXT", "client.id": "kafka-restore",
        "socket.keepalive.enable": True, "socket.nagle.disable": False,
    }
    k = kafkapython_settings(cluster(connection=conn))
    assert k["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert k["socket_options"] == [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 0), (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 45), (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 7),
    ]
    assert "ssl_context" not in k and "sasl_mechanism" not in k


def test_keepalive_off_sets_no_keepalive_timing() -> None:
    k = kafkapython_settings(cluster(connection=Connection(tcp_keepalive=False)))
    assert k["socket_options"] == [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
                                   (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)]
    assert confluent_settings(cluster(connection=Connection(tcp_keepalive=False)))["socket.keepalive.enable"] is False


def test_ssl_takes_ca_and_client_pair_from_tls_secret() -> None:
    c = confluent_settings(cluster("SSL", tls_secret=TLS), secrets())
    assert (c["security.protocol"], c["ssl.ca.pem"], c["ssl.certificate.pem"], c["ssl.key.pem"]) == (
        "SSL", PKI["ca"].decode(), PKI["cert"].decode(), PKI["key"].decode())
    assert "sasl.mechanism" not in c
    context = kafkapython_settings(cluster("SSL", tls_secret=TLS), secrets())["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert [dict(x[0] for x in ca["subject"])["commonName"] for ca in context.get_ca_certs()] == ["tls-secret-ca"]


def test_ca_secret_overrides_tls_secret_ca_key() -> None:
    s = secrets()
    c = confluent_settings(cluster("SSL", tls_secret=TLS, ca_secret=CaSecret("kafka-ca", "root.pem")), s)
    assert c["ssl.ca.pem"] == PKI["other_ca"].decode()
    assert SecretKeyRef("kafka-tls", "ca.crt") not in s.asked
    context = kafkapython_settings(cluster("SSL", tls_secret=TLS, ca_secret=CaSecret("kafka-ca", "root.pem")),
                                   secrets())["ssl_context"]
    assert [dict(x[0] for x in ca["subject"])["commonName"] for ca in context.get_ca_certs()] == ["ca-secret-ca"]


def test_client_key_file_is_gone_after_loading(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    kafkapython_settings(cluster("SSL", tls_secret=TLS), secrets())
    assert list(tmp_path.iterdir()) == []


def test_sasl_ssl_sets_both_layers() -> None:
    c = confluent_settings(cluster("SASL_SSL", ca_secret=CaSecret("kafka-ca", "root.pem"), sasl_secret=SASL),
                           secrets())
    assert (c["sasl.mechanism"], c["sasl.username"], c["sasl.password"], c["ssl.ca.pem"]) == (
        "SCRAM-SHA-512", "restore-bot", PASSWORD, PKI["other_ca"].decode())
    assert "ssl.key.pem" not in c
    k = kafkapython_settings(cluster("SASL_SSL", ca_secret=CaSecret("kafka-ca", "root.pem"), sasl_secret=SASL),
                             secrets())
    assert (k["security_protocol"], k["sasl_mechanism"], k["sasl_plain_username"], k["sasl_plain_password"]) == (
        "SASL_SSL", "SCRAM-SHA-512", "restore-bot", PASSWORD)
    assert isinstance(k["ssl_context"], ssl.SSLContext)


def test_sasl_plaintext_has_no_tls() -> None:
    plain = SaslSecret("kafka-sasl", "PLAIN", username_key="user", password_key="pass")
    c = confluent_settings(cluster("SASL_PLAINTEXT", tls_secret=TLS, sasl_secret=plain), secrets())
    assert (c["security.protocol"], c["sasl.mechanism"]) == ("SASL_PLAINTEXT", "PLAIN")
    assert not any(key.startswith("ssl.") for key in c)
    k = kafkapython_settings(cluster("SASL_PLAINTEXT", sasl_secret=plain), secrets())
    assert (k["security_protocol"], k["sasl_mechanism"], "ssl_context" in k) == ("SASL_PLAINTEXT", "PLAIN", False)


@pytest.mark.parametrize("build", [confluent_settings, kafkapython_settings])
def test_missing_references_name_the_field(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"^kafkaCluster\.saslSecret: required when securityProtocol is SASL_SSL"):
        build(cluster("SASL_SSL"), secrets())
    with pytest.raises(ValueError, match=r"^kafkaCluster\.tlsSecret\.keyKey: required"):
        build(cluster("SSL", tls_secret=TlsSecret("kafka-tls", cert_key="tls.crt")), secrets())
    with pytest.raises(ValueError, match=r"^kafkaCluster\.saslSecret\.usernameKey: .*needs a secret resolver"):
        build(cluster("SASL_PLAINTEXT", sasl_secret=SASL), None)


def _leaks(text: str, key_pem: bytes = PKI["key"]) -> list[str]:
    lines = [line for line in key_pem.decode().splitlines() if "-----" not in line]
    return [piece for piece in (PASSWORD, *lines) if piece in text]


def test_repr_and_str_hide_secret_values() -> None:
    spec = cluster("SASL_SSL", tls_secret=TLS, sasl_secret=SASL)
    for config in (confluent_settings(spec, secrets()), kafkapython_settings(spec, secrets())):
        for text in (repr(config), str(config), f"{config}", repr([config])):
            assert _leaks(text) == []
            assert "***" in text
    assert "restore-bot" in repr(confluent_settings(spec, secrets()))


def test_client_config_error_is_redacted_and_unchained() -> None:
    config = confluent_settings(cluster("SASL_SSL", sasl_secret=SASL), secrets())

    def echoing_build() -> None:
        raise ValueError(f'Invalid value "{PASSWORD}" for configuration property "sasl.password"')

    with pytest.raises(KafkaError) as raised:
        build_client(config, "open producer", lambda exc, what: KafkaError(f"{what}: {exc}"), echoing_build)
    assert str(raised.value) == 'open producer: Invalid value "***" for configuration property "sasl.password"'
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_bad_client_key_fails_without_showing_it() -> None:
    bad_key = b"-----BEGIN PRIVATE KEY-----\nTHISISNOTAKEYbutAsecretLOOKINGline0123456789\n-----END PRIVATE KEY-----\n"
    spec = cluster("SASL_SSL", tls_secret=TLS, sasl_secret=SASL)
    with pytest.raises(KafkaError) as raised:
        ConfluentAdmin(confluent_settings(spec, secrets(bad_key)))
    assert "open admin client on b1:9093,b2:9093" in str(raised.value)
    assert _leaks(str(raised.value), bad_key) == []
    with pytest.raises(ValueError, match=r"^kafkaCluster\.tlsSecret: client certificate and key do not load") as bad:
        kafkapython_settings(spec, secrets(bad_key))
    assert _leaks(str(bad.value), bad_key) == []
    assert bad.value.__cause__ is None


def test_servers_for_messages() -> None:
    assert ClientConfig({"bootstrap_servers": ["a:1", "b:2"]}).servers() == "a:1,b:2"
    assert ClientConfig({"bootstrap.servers": "a:1"}).servers() == "a:1"
