from __future__ import annotations

from pathlib import Path

import pytest

from restore_jobs.spec import model
from restore_jobs.storage.base import InvalidKeyError, StorageError
from restore_jobs.storage.factory import open_storage, open_storage_url
from restore_jobs.storage.filesystem import FilesystemStorage
from restore_jobs.storage.s3 import S3Storage
from restore_jobs.storage.secrets import SecretError, SecretResolver

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SecretResolver:
    root = tmp_path / "secrets"
    (root / "s3").mkdir(parents=True)
    (root / "s3" / "AWS_ACCESS_KEY_ID").write_text("AKIDEXAMPLE")
    (root / "s3" / "AWS_SECRET_ACCESS_KEY").write_text(SECRET)
    monkeypatch.setenv("KAFKA_RESTORE_SECRETS_DIR", str(root))
    return SecretResolver.for_namespace("ns")


def test_filesystem_and_pvc(tmp_path: Path, secrets: SecretResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = open_storage(model.Storage("filesystem", filesystem=model.FilesystemStorage(str(tmp_path), "pre/")), secrets)
    assert isinstance(fs, FilesystemStorage) and fs.root == tmp_path / "pre"
    monkeypatch.setenv("KAFKA_RESTORE_PVC_ROOT", str(tmp_path / "pvcs"))
    pvc = open_storage(model.Storage("pvc", pvc=model.PvcStorage("backups", "kafka/prod")), secrets)
    assert isinstance(pvc, FilesystemStorage) and pvc.root == tmp_path / "pvcs" / "backups" / "kafka" / "prod"
    with pytest.raises(InvalidKeyError, match=r"invalid storage.pvc.subPath '\.\./\.\./etc'"):
        open_storage(model.Storage("pvc", pvc=model.PvcStorage("backups", "../../etc")), secrets)
    with pytest.raises(InvalidKeyError, match=r"invalid storage.pvc.claimName '\.\.'"):
        open_storage(model.Storage("pvc", pvc=model.PvcStorage("..")), secrets)
    with pytest.raises(StorageError, match=r"storage.pvc: required when storageType is 'pvc'"):
        open_storage(model.Storage("pvc"), secrets)


def test_s3_with_secret_never_shows_credentials(secrets: SecretResolver) -> None:
    spec = model.S3Storage(
        "bucket",
        region="eu-west-1",
        prefix="backups",
        credentials_secret=model.S3CredentialsSecret("s3"),
    )
    storage = open_storage(model.Storage("s3", s3=spec), secrets)
    assert isinstance(storage, S3Storage)
    assert storage.describe("b1/manifest.json") == "s3://bucket/backups/b1/manifest.json"
    assert SECRET not in repr(storage) and "AKIDEXAMPLE" not in repr(storage)
    assert SECRET not in repr(vars(storage))
    missing = model.S3Storage("bucket", credentials_secret=model.S3CredentialsSecret("gone"))
    with pytest.raises(SecretError, match="secret ns/gone/AWS_ACCESS_KEY_ID"):
        open_storage(model.Storage("s3", s3=missing), secrets)


def test_plain_http_endpoint_needs_allow_http(secrets: SecretResolver) -> None:
    spec = model.S3Storage("bucket", endpoint="http://minio:9000", path_style=True)
    with pytest.raises(StorageError, match=r"S3 endpoint http://minio:9000 uses plain HTTP; set allowHttp: true"):
        open_storage(model.Storage("s3", s3=spec), secrets)
    spec.allow_http = True
    assert isinstance(open_storage(model.Storage("s3", s3=spec), secrets), S3Storage)


@pytest.mark.parametrize("kind", ["azure", "gcs"])
def test_azure_and_gcs_refused(kind: str, secrets: SecretResolver) -> None:
    with pytest.raises(StorageError, match=f"storage.storageType '{kind}' is not supported"):
        open_storage(model.Storage(kind, **{kind: {"container": "x"}}), secrets)  # type: ignore[arg-type]


def test_storage_urls(tmp_path: Path) -> None:
    a = open_storage_url(f"file://{tmp_path}/x")
    assert isinstance(a, FilesystemStorage) and a.root == tmp_path / "x"
    b = open_storage_url(str(tmp_path))
    assert isinstance(b, FilesystemStorage) and b.root == tmp_path
    c = open_storage_url("s3://bkt/some/prefix", s3_endpoint="http://127.0.0.1:9", s3_region="us-east-1")
    assert isinstance(c, S3Storage) and c.describe("k") == "s3://bkt/some/prefix/k"
    with pytest.raises(StorageError, match="unsupported scheme"):
        open_storage_url("gs://bucket/x")
    with pytest.raises(StorageError, match="file URLs take no host"):
        open_storage_url("file://host/x")
    with pytest.raises(InvalidKeyError, match="invalid S3 prefix"):
        open_storage_url("s3://bkt/a/../../b")
