"""Controller settings, read once from the environment so every knob has one documented name."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LeaderElectionSettings:
    enabled: bool = True
    lease_name: str = "kafka-restore-controller"
    lease_namespace: str = "default"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True)
class Settings:
    watch_namespaces: tuple[str, ...] = ()  # empty = all namespaces
    status_interval: float = 2.0
    workers: int = 4
    watch_timeout_seconds: int = 300
    cancel_timeout: float = 300.0
    http_port: int = 8080
    leader: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        read = _Reader(env)
        identity = env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        leader = LeaderElectionSettings(
            enabled=read.flag("KAFKA_RESTORE_LEADER_ELECTION", True),
            lease_name=env.get("KAFKA_RESTORE_LEASE_NAME") or "kafka-restore-controller",
            lease_namespace=env.get("KAFKA_RESTORE_LEASE_NAMESPACE") or env.get("POD_NAMESPACE") or "default",
            identity=identity,
            lease_duration=read.number("KAFKA_RESTORE_LEASE_DURATION", 15.0),
            renew_deadline=read.number("KAFKA_RESTORE_LEASE_RENEW_DEADLINE", 10.0),
            retry_period=read.number("KAFKA_RESTORE_LEASE_RETRY_PERIOD", 2.0),
        )
        if not leader.retry_period < leader.renew_deadline < leader.lease_duration:
            raise ValueError("KAFKA_RESTORE_LEASE_*: need retry period < renew deadline < lease duration, got "
                             f"{leader.retry_period} / {leader.renew_deadline} / {leader.lease_duration}")
        namespaces = tuple(ns.strip() for ns in env.get("KAFKA_RESTORE_WATCH_NAMESPACES", "").split(",") if ns.strip())
        return cls(
            watch_namespaces=namespaces,
            status_interval=read.number("KAFKA_RESTORE_STATUS_INTERVAL", 2.0),
            workers=int(read.number("KAFKA_RESTORE_CONTROLLER_WORKERS", 4)),
            watch_timeout_seconds=int(read.number("KAFKA_RESTORE_WATCH_TIMEOUT", 300)),
            cancel_timeout=read.number("KAFKA_RESTORE_CANCEL_TIMEOUT", 300.0),
            http_port=int(read.number("KAFKA_RESTORE_CONTROLLER_HTTP_PORT", 8080)),
            leader=leader,
        )


class _Reader:
    """Parses one variable at a time so a bad value names its variable."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {raw!r}") from None
        if value <= 0:
            raise ValueError(f"{name}: must be greater than 0, got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._env.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected true or false, got {raw!r}")
