from __future__ import annotations

import pytest

from controller.config import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.watch_namespaces == ()
    assert (settings.status_interval, settings.http_port) == (2.0, 8080)
    leader = settings.leader
    assert (leader.enabled, leader.lease_name, leader.lease_namespace) == (True, "kafka-restore-controller", "default")
    assert (leader.lease_duration, leader.renew_deadline, leader.retry_period) == (15.0, 10.0, 2.0)


def test_environment_overrides() -> None:
    settings = Settings.from_env({
        "KAFKA_RESTORE_WATCH_NAMESPACES": " team-a, ,team-b ", "KAFKA_RESTORE_STATUS_INTERVAL": "0.5",
        "KAFKA_RESTORE_LEADER_ELECTION": "false", "POD_NAMESPACE": "kafka-system", "POD_NAME": "ctl-0",
        "KAFKA_RESTORE_CONTROLLER_HTTP_PORT": "9090", "KAFKA_RESTORE_LEASE_DURATION": "30"})
    assert settings.watch_namespaces == ("team-a", "team-b")
    assert (settings.status_interval, settings.http_port) == (0.5, 9090)
    assert (settings.leader.enabled, settings.leader.lease_namespace, settings.leader.identity) == (
        False, "kafka-system", "ctl-0")
    assert settings.leader.lease_duration == 30.0


@pytest.mark.parametrize(("env", "message"), [
    ({"KAFKA_RESTORE_STATUS_INTERVAL": "fast"}, "KAFKA_RESTORE_STATUS_INTERVAL: expected a number, got 'fast'"),
    ({"KAFKA_RESTORE_STATUS_INTERVAL": "0"}, "KAFKA_RESTORE_STATUS_INTERVAL: must be greater than 0"),
    ({"KAFKA_RESTORE_LEADER_ELECTION": "maybe"}, "KAFKA_RESTORE_LEADER_ELECTION: expected true or false"),
    ({"KAFKA_RESTORE_LEASE_RENEW_DEADLINE": "20"}, "need retry period < renew deadline < lease duration"),
])
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert message in str(caught.value)
