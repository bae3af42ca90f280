"""Which failures a task retries from its checkpoint (with backoff) rather than failing the job."""

from __future__ import annotations

import botocore.exceptions as boto
import pytest

from restore_jobs.jobs.tasks import is_transient
from restore_jobs.kafka.client import FencedError, KafkaError
from restore_jobs.storage.base import StorageError

URL = "http://s3.example/bucket/key"


def _s3(code: str, status: int) -> boto.ClientError:
    return boto.ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def _storage_error(cause: BaseException) -> StorageError:
    try:
        raise StorageError("s3://bucket/key: S3 open failed") from cause
    except StorageError as exc:
        return exc


@pytest.mark.parametrize(
    "cause",
    [
        boto.ConnectionClosedError(endpoint_url=URL),
        boto.ReadTimeoutError(endpoint_url=URL),
        boto.EndpointConnectionError(endpoint_url=URL),
        boto.IncompleteReadError(actual_bytes=1, expected_bytes=2),
        _s3("SlowDown", 503),
        _s3("InternalError", 500),
        ConnectionResetError(),
    ],
    ids=lambda c: type(c).__name__,
)
def test_storage_errors_from_network_trouble_are_retried(cause: BaseException) -> None:
    assert is_transient(_storage_error(cause))


@pytest.mark.parametrize(
    "cause",
    [
        _s3("AccessDenied", 403),
        _s3("NoSuchKey", 404),
        ValueError("bad"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_refusals_and_bad_data_fail_the_job(cause: BaseException) -> None:
    assert not is_transient(_storage_error(cause))


def test_kafka_errors_follow_their_retriable_flag_and_fencing_never_retries() -> None:
    assert is_transient(KafkaError("timed out", retriable=True))
    assert not is_transient(KafkaError("authorization failed"))
    assert not is_transient(FencedError("fenced", retriable=True))
