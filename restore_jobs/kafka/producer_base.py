"""Transactional and plain producing, shared by both clients.

With a transactional id, ``commit`` puts the checkpoint offsets into the transaction
(send_offsets_to_transaction), so records and checkpoint become visible together. Without one,
``begin``/``abort`` do nothing and ``commit`` flushes, then commits the offsets through the admin
API: not atomic, so a crash between the two replays records (at-least-once).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from restore_jobs.kafka.admin_base import AdminBase
from restore_jobs.kafka.client import Committed, Deliveries, Placed, TopicPartition


class ProducerBase(ABC):
    def __init__(self, transactional_id: str | None, open_admin: Callable[[], AdminBase], servers: str):
        self.transactional_id = transactional_id
        self._open_admin = open_admin
        self._admin: AdminBase | None = None
        # Names the producer in every error and log line.
        self._label = f"producer {transactional_id or '(plain)'} on {servers}"

    @abstractmethod
    def send_many(self, topic: str, records: Sequence[Placed]) -> None: ...

    @abstractmethod
    def flush(self) -> Deliveries: ...

    @abstractmethod
    def _init_transactions(self) -> None: ...

    @abstractmethod
    def _begin_transaction(self) -> None: ...

    @abstractmethod
    def _commit_transaction(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None: ...

    @abstractmethod
    def _abort_transaction(self) -> None: ...

    @abstractmethod
    def _forget_sent(self) -> None:
        """Drop the bookkeeping of records sent since ``begin``."""

    @abstractmethod
    def _close_client(self) -> None: ...

    def init(self) -> None:
        """Fences any older producer with the same transactional id (no-op for a plain producer)."""
        if self.transactional_id is not None:
            self._init_transactions()

    def begin(self) -> None:
        self._forget_sent()
        if self.transactional_id is not None:
            self._begin_transaction()

    def commit(self, group_id: str, offsets: dict[TopicPartition, Committed]) -> None:
        """Transactional: atomic with the records. Plain: flush, then commit the offsets through the
        admin API; not atomic, at-least-once."""
        if self.transactional_id is not None:
            self._commit_transaction(group_id, offsets)
        else:
            self.flush()
            if offsets:
                if self._admin is None:
                    self._admin = self._open_admin()
                self._admin.commit_offsets(group_id, offsets)
        self._forget_sent()

    def abort(self) -> None:
        """Transactional: abort. Plain: records already sent stay; only the bookkeeping is dropped."""
        if self.transactional_id is not None:
            self._abort_transaction()
        self._forget_sent()

    def close(self) -> None:
        try:
            self._close_client()
        finally:
            if self._admin is not None:
                self._admin.close()
                self._admin = None
