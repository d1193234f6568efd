"""KeyPartitioner picks exactly the partition aiokafka's default partitioner picks."""

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from kervan_servicekit.outbox import default_producer_factory
from kervan_servicekit.partitioner import KeyPartitioner, murmur2


def test_murmur2_equals_aiokafka_for_every_length_and_many_keys() -> None:
    rng = random.Random(20261202)
    keys = [rng.randbytes(length) for length in range(80) for _ in range(200)]
    keys += [f"bench-store-{n:03d}:BURST{n:09d}".encode() for n in range(5000)]
    keys += ["wh-main:SKU-ç-ğ-ü".encode(), b"", b"\x00", b"\xff\xff\xff\xff"]
    mismatches = [key for key in keys if murmur2(key) != aiokafka_murmur2(key)]
    assert mismatches == []


@given(key=st.binary(max_size=200), partitions=st.integers(min_value=1, max_value=64))
def test_partition_of_a_key_equals_aiokafka_default(key: bytes, partitions: int) -> None:
    all_partitions = list(range(partitions))
    ours = KeyPartitioner()(key, all_partitions, all_partitions)
    assert ours == DefaultPartitioner()(key, all_partitions, all_partitions)


def test_repeated_keys_keep_their_partition_whatever_the_topic_size() -> None:
    partitioner = KeyPartitioner()
    key = b"wh-main:sku-1"
    # The cache keeps the hash, not the partition: a topic of another size still gets its own.
    for partitions in (3, 12, 3, 7, 12):
        expected = DefaultPartitioner()(key, list(range(partitions)), [])
        assert partitioner(key, list(range(partitions)), []) == expected


def test_null_key_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(50)} == {2}
    assert {partitioner(None, [0, 1], []) for _ in range(200)} == {0, 1}


async def test_the_relay_producer_uses_it() -> None:
    # Built, never started: aiokafka keeps the partitioner it was given.
    producer = default_producer_factory("127.0.0.1:1", "relay-test", 5.0)
    assert isinstance(producer._partitioner, KeyPartitioner)  # type: ignore[attr-defined]
