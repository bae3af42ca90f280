"""A backup store in an S3 bucket (AWS or any S3-compatible endpoint) through boto3.

Throttling and 5xx answers are retried by botocore's own retry modes; a connection that breaks
while a body streams is not, so ``open`` resumes it with a ranged GET pinned to the same ETag.
Credentials go straight into the boto3 client and are never kept on this object, printed or
put in a message.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.exceptions import ProtocolError

from restore_jobs.storage.base import NotFoundError, StorageError
from restore_jobs.storage.keys import check_key, check_prefix, join_key

log = logging.getLogger(__name__)

_STREAM_ERRORS = (
    ReadTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
    BotoConnectionError,
    ProtocolError,
)
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_READ_BUFFER = 1 << 20


class S3Storage:
    def __init__(
        self,
        bucket: str,
        prefix: str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        path_style: bool | None = None,
        allow_http: bool | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        *,
        retry_mode: str = "adaptive",
        max_attempts: int | None = None,
        stream_attempts: int = 5,
    ):
        """Without ``access_key_id``/``secret_access_key`` boto3's default chain applies;
        ``max_attempts`` defaults to ``$AWS_MAX_ATTEMPTS``, else 8."""
        if not bucket or "/" in bucket:
            raise StorageError(f"invalid S3 bucket name {bucket!r}")
        if endpoint and endpoint.lower().startswith("http://") and not allow_http:
            raise StorageError(f"S3 endpoint {endpoint} uses plain HTTP; set allowHttp: true to permit it")
        self.bucket = bucket
        self.prefix = check_prefix((prefix or "").strip("/"), "S3 prefix")
        self.endpoint = endpoint
        self._stream_attempts = stream_attempts
        config = Config(
            retries={"mode": retry_mode, "max_attempts": max_attempts or int(os.environ.get("AWS_MAX_ATTEMPTS", "8"))},
            s3={"addressing_style": "path" if path_style else "auto"},
        )
        self._client = boto3.session.Session().client(
            "s3",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={self.endpoint!r})"

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        full = join_key(self.prefix, prefix)
        if full and (prefix.endswith("/") or not prefix):
            full += "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield obj["Key"][strip:]
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix, exc) from exc

    def open(self, key: str) -> BinaryIO:
        """Streams the object; a connection lost mid-body resumes where it stopped."""
        raw = _ResumingBody(self, key)
        return io.BufferedReader(raw, buffer_size=_READ_BUFFER)  # type: ignore[return-value]

    def read(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def write(self, key: str, data: bytes) -> None:
        """A single PUT: S3 makes the object visible whole or not at all."""
        self._call("write", key, self._client.put_object, Body=data)

    def exists(self, key: str) -> bool:
        try:
            self._call("exists", key, self._client.head_object)
        except NotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._call("size", key, self._client.head_object)["ContentLength"])

    def delete(self, key: str) -> None:
        self._call("delete", key, self._client.delete_object)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def _full(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def _get(self, key: str, start: int, etag: str | None) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if start:
            extra["Range"] = f"bytes={start}-"
        if etag:
            extra["IfMatch"] = etag
        return self._call("open", key, self._client.get_object, **extra)

    def _call(self, op: str, key: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.bucket, Key=self._full(key), **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(op, key, exc) from exc

    def _error(self, op: str, key: str, exc: Exception) -> StorageError:
        """Names the object and the S3 error code only: service messages can echo request details."""
        where = self.describe(key) if key else f"s3://{self.bucket}/{self.prefix}"
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", "?"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            if code in _NOT_FOUND:
                return NotFoundError(f"{where}: not found")
            return StorageError(f"{where}: S3 {op} failed: {code} (HTTP {status})")
        if isinstance(exc, NoCredentialsError):
            return StorageError(f"{where}: S3 {op} failed: no credentials (secret or default chain)")
        return StorageError(f"{where}: S3 {op} failed: {type(exc).__name__}")


class _ResumingBody(io.RawIOBase):
    """A GetObject body that reopens at the current position (same ETag) when the stream breaks."""

    def __init__(self, storage: S3Storage, key: str):
        self._storage = storage
        self._key = key
        self._pos = 0
        response = storage._get(key, 0, None)
        self._etag: str | None = response.get("ETag")
        self._body = response["Body"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        retrying = Retrying(
            retry=retry_if_exception_type(_STREAM_ERRORS),
            stop=stop_after_attempt(self._storage._stream_attempts),
            wait=wait_exponential(multiplier=0.2, max=5),
            before_sleep=self._reopen,
            reraise=True,
        )
        try:
            data = retrying(lambda: self._body.read(len(buffer)))  # the body changes on reopen
        except _STREAM_ERRORS as exc:
            raise self._storage._error("read", self._key, exc) from exc
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _reopen(self, state: Any) -> None:
        log.warning(
            "s3 stream broken, resuming key=%s position=%d attempt=%d",
            self._storage.describe(self._key),
            self._pos,
            state.attempt_number,
        )
        self._body.close()
        self._body = self._storage._get(self._key, self._pos, self._etag)["Body"]

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
