"""The Kafka bus's settings: its URL, and the static member ids it gives its groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxhub.adapters.bus_kafka import KafkaEventBus
from inboxhub.runtime import make_bus
from inboxhub.settings import Settings


def test_the_url_carries_every_option_and_rebuilds_the_same_bus() -> None:
    bus = KafkaEventBus.from_url(
        "kafka://b1:9092,b2:9092?topic_prefix=t.&session_timeout=7&instance_id=indexer-1",
        partitions=12,
    )
    assert bus.bootstrap_servers == "b1:9092,b2:9092"
    assert (bus.topic_prefix, bus.session_timeout, bus.partitions) == ("t.", 7.0, 12)
    assert bus.instance_id == "indexer-1"
    again = KafkaEventBus.from_url(bus.url)
    assert (again.instance_id, again.partitions, again.topic_prefix) == ("indexer-1", 12, "t.")


def test_the_instance_id_setting_makes_members_static(tmp_path: Path) -> None:
    bus = make_bus(Settings(data_dir=tmp_path, bus_url="kafka://b:9092", instance_id="p-0"))
    assert isinstance(bus, KafkaEventBus)
    # One member per group and process normally; a second one in the same group
    # must not share the id (the broker would fence one of them).
    assert [bus._static_id("processor"), bus._static_id("indexer")] == ["p-0", "p-0"]
    assert bus._static_id("processor") == "p-0.2"


def test_without_an_instance_id_members_are_dynamic(tmp_path: Path) -> None:
    bus = make_bus(Settings(data_dir=tmp_path, bus_url="kafka://b:9092"))
    assert isinstance(bus, KafkaEventBus)
    assert bus._static_id("processor") is None
    assert "instance_id" not in bus.url


@pytest.mark.parametrize("url", ["kafka://b:9092?session_timeout=soon", "kafka://b:9092?nope=1"])
def test_a_bad_option_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        KafkaEventBus.from_url(url)
