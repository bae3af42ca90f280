"""The record as a backup holds it, independent of any Kafka client."""

from __future__ import annotations

from dataclasses import dataclass, field

Header = tuple[str, bytes | None]

ORIGINAL_OFFSET_HEADER = "x-original-offset"
ORIGINAL_TIMESTAMP_HEADER = "x-original-timestamp"
SOURCE_CLUSTER_HEADER = "x-source-cluster"


@dataclass(slots=True)
class BackupRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[Header] = field(default_factory=list)
    # ``size``, when the decoder already counted it while parsing (it does for every record it reads).
    payload_size: int = field(default=-1, compare=False, repr=False)

    @property
    def size(self) -> int:
        """Bytes of payload, as counted in bytesRestored: key + value + header keys (characters)
        and values."""
        if self.payload_size >= 0:
            return self.payload_size
        n = len(self.key or b"") + len(self.value or b"")
        for k, v in self.headers:
            n += len(k) + len(v or b"")
        return n
