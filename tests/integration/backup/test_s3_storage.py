"""S3Storage against moto's real HTTP server, with a key prefix."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from restore_jobs.backup.manifest import load_manifest
from restore_jobs.backup.records import BackupRecord
from restore_jobs.backup.segment import read_segment
from restore_jobs.backup.writer import BackupWriter
from restore_jobs.storage.base import StorageError
from restore_jobs.storage.factory import open_storage_url
from restore_jobs.storage.s3 import S3Storage
from tests.unit.storage.contract import check_basic_operations, check_traversal_refused

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(s3_endpoint: str, unique: str) -> Iterator[str]:
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=unique)
    yield unique


def make(s3_endpoint: str, bucket: str, prefix: str = "team/backups") -> S3Storage:
    return S3Storage(bucket, prefix=prefix, region="us-east-1", endpoint=s3_endpoint, path_style=True, allow_http=True)


def test_contract_with_prefix(s3_endpoint: str, bucket: str) -> None:
    storage = make(s3_endpoint, bucket)
    check_basic_operations(storage)
    raw = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["team/backups/b1/manifest.json", "team/backups/b1/topics/t/partition=0/segment-1.bin"]
    assert storage.describe("b1/manifest.json") == f"s3://{bucket}/team/backups/b1/manifest.json"
    # a sibling prefix is not visible through this store
    raw.put_object(Bucket=bucket, Key="team/backups-other/x", Body=b"1")
    assert "x" not in "".join(storage.list())


def test_traversal_refused(s3_endpoint: str, bucket: str) -> None:
    check_traversal_refused(make(s3_endpoint, bucket))


def test_backup_written_and_read_back(s3_endpoint: str, bucket: str) -> None:
    storage = open_storage_url(f"s3://{bucket}/pre", s3_endpoint=s3_endpoint, s3_region="us-east-1")
    writer = BackupWriter(storage, "b1", compression="zstd", segment_max_records=3, include_offset_headers=False)
    records = [BackupRecord(i, 1000 + i, b"k", b"v%d" % i, [("h", None)]) for i in range(8)]
    for r in records:
        writer.add("orders", 1, r)
    writer.finish({"orders": 2})
    manifest = load_manifest(storage, "b1")
    [part] = manifest.topics[0].partitions
    assert len(part.segments) == 3
    got = []
    for seg in part.segments:
        with storage.open(seg.key) as stream:  # S3 bodies do not seek: the reader spools them
            got += list(read_segment(stream, seg.key))
    assert got == records


def test_stream_resumes_after_a_broken_connection(s3_endpoint: str, bucket: str) -> None:
    storage = make(s3_endpoint, bucket)
    payload = bytes(range(256)) * 8192  # 2 MiB
    storage.write("big", payload)
    f = storage.open("big")
    first = f.read(100_000)
    raw = f.raw  # type: ignore[attr-defined]
    real_body = raw._body

    class Breaking:
        def read(self, n: int) -> bytes:
            raise ReadTimeoutError(endpoint_url=s3_endpoint)

        def close(self) -> None:
            real_body.close()

    raw._body = Breaking()
    rest = f.read()
    assert first + rest == payload
    f.close()


def test_errors_name_the_object(s3_endpoint: str, bucket: str) -> None:
    storage = make(s3_endpoint, bucket)
    missing_bucket = make(s3_endpoint, bucket + "-missing")
    with pytest.raises(StorageError, match=rf"^s3://{bucket}-missing/team/backups/k: S3 write failed: NoSuchBucket"):
        missing_bucket.write("k", b"x")
    assert storage.exists("k") is False
    with pytest.raises(StorageError, match=r"plain HTTP"):
        S3Storage(bucket, endpoint=s3_endpoint)
