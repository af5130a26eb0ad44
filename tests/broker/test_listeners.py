"""Extra listeners of the local broker: on another address, advertised as that address."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from edgesplit.broker import LocalBroker
from edgesplit.config import cache_dir
from edgesplit.errors import ConfigError

OTHER = "127.0.0.2"  # another local address (all of 127/8 is loopback on Linux)


def advertised(bootstrap: str) -> list[str]:
    """The broker addresses a client that bootstraps at `bootstrap` is told to use."""
    brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
    return sorted(f"{b.host}:{b.port}" for b in brokers.values())


def test_an_extra_listener_is_advertised_as_its_own_address(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, cache_dir())
    started = broker.start(extra_listeners={"EDGE": OTHER})
    try:
        edge = started.state.listeners["EDGE"]
        assert edge.startswith(f"{OTHER}:")
        assert advertised(edge) == [edge]  # clients of EDGE stay on EDGE
        assert advertised(started.state.bootstrap) == [started.state.bootstrap]
        found = LocalBroker(tmp_path, cache_dir()).running_state()  # as from another shell
        assert found is not None
        assert found.listeners == {"EDGE": edge}
        reused = broker.start(extra_listeners={"EDGE": OTHER})
        assert reused.reused
    finally:
        broker.stop()

    plain = broker.start()  # a restart without it: loopback only, same client port
    try:
        assert plain.state.listeners == {}
        assert plain.state.port == started.state.port
        assert "EDGE:" not in broker.server_properties.read_text()
        host, _, port = edge.rpartition(":")
        with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port))):
            pass
    finally:
        broker.stop()


@pytest.mark.parametrize("name", ["edge", "PLAINTEXT", "CONTROLLER", "E-1"])
def test_bad_listener_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="bad extra listener name"):
        LocalBroker(tmp_path, cache_dir()).start(extra_listeners={name: OTHER})


def test_an_address_of_no_interface_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"cannot listen on 198\.51\.100\.7 for the EDGE listener"
    ):
        LocalBroker(tmp_path, cache_dir()).start(extra_listeners={"EDGE": "198.51.100.7"})
