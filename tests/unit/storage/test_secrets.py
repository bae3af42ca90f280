from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace

import pytest

from restore_jobs.spec.model import SecretKeyRef
from restore_jobs.storage.secrets import KubernetesSecretSource, SecretError, SecretResolver

VALUE = "s3cr3t-Value-Do-Not-Print"


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "s3-creds").mkdir()
    (tmp_path / "s3-creds" / "AWS_SECRET_ACCESS_KEY").write_text(VALUE)
    (tmp_path / "s3-creds" / "binary").write_bytes(b"\xff\xfe")
    monkeypatch.setenv("KAFKA_RESTORE_SECRETS_DIR", str(tmp_path))
    return tmp_path


def test_reads_mounted_secret_and_caches(secrets_dir: Path) -> None:
    resolver = SecretResolver.for_namespace("prod")
    ref = SecretKeyRef("s3-creds", "AWS_SECRET_ACCESS_KEY")
    assert resolver.get_str(ref) == VALUE
    (secrets_dir / "s3-creds" / "AWS_SECRET_ACCESS_KEY").write_text("rotated")
    assert resolver.get(ref) == VALUE.encode()  # cached for this resolver
    assert SecretResolver.for_namespace("prod").get_str(ref) == "rotated"
    assert VALUE not in repr(resolver)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            SecretKeyRef("nope", "AWS_SECRET_ACCESS_KEY"),
            "secret prod/nope/AWS_SECRET_ACCESS_KEY: secret 'nope' not found",
        ),
        (SecretKeyRef("s3-creds", "missing"), "secret prod/s3-creds/missing: key 'missing' not in secret 's3-creds'"),
        (SecretKeyRef("..", "x"), "secret prod/../x: invalid secret name '..'"),
        (SecretKeyRef("s3-creds", "../s3-creds/AWS_SECRET_ACCESS_KEY"), "invalid secret key"),
        (SecretKeyRef("s3-creds", "binary"), "secret prod/s3-creds/binary: not UTF-8 text"),
    ],
)
def test_errors_name_the_reference_never_a_value(secrets_dir: Path, ref: SecretKeyRef, message: str) -> None:
    with pytest.raises(SecretError) as info:
        SecretResolver.for_namespace("prod").get_str(ref)
    assert message in str(info.value)
    assert VALUE not in str(info.value)


def test_no_source_outside_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_RESTORE_SECRETS_DIR", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(SecretError, match="secret creds/k: no secret source: set KAFKA_RESTORE_SECRETS_DIR"):
        SecretResolver.for_namespace(None).get(SecretKeyRef("creds", "k"))


class FakeCoreV1:
    def __init__(self, secrets: dict[tuple[str, str], dict[str, str]]):
        self.secrets = secrets
        self.calls = 0

    def read_namespaced_secret(self, name: str, namespace: str) -> SimpleNamespace:
        from kubernetes.client.exceptions import ApiException

        self.calls += 1
        if (namespace, name) not in self.secrets:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=self.secrets[(namespace, name)])


def test_kubernetes_source_decodes_and_names_missing_refs() -> None:
    source = KubernetesSecretSource("prod")
    api = FakeCoreV1({("prod", "sasl"): {"password": base64.b64encode(VALUE.encode()).decode()}})
    source._api = api  # type: ignore[assignment]
    resolver = SecretResolver(source, "prod")
    assert resolver.get_str(SecretKeyRef("sasl", "password")) == VALUE
    assert resolver.get_str(SecretKeyRef("sasl", "password")) == VALUE
    assert api.calls == 1
    with pytest.raises(SecretError, match=r"^secret prod/sasl/username: key 'username' not in secret 'sasl'$"):
        resolver.get(SecretKeyRef("sasl", "username"))
    with pytest.raises(SecretError, match=r"^secret prod/other/password: secret 'other' not found$"):
        resolver.get(SecretKeyRef("other", "password"))
