"""A service's broker against its party in the AsyncAPI documents (`kervan_contracts.asyncapi`).

Each service's unit test registers its consumers on a broker that never connects, then calls
`assert_matches_party(broker, "<service>", <its producer names>...)`. servicekit is imported
only inside the function (its own tests use testkit: testkit does not depend on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kervan_contracts.asyncapi import Party, party

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker


def assert_matches_party(broker: KafkaBroker, name: str, *producers: str) -> Party:
    """The broker subscribes to every topic party `name` receives, in its consumer group, and to
    nothing else; each of `producers` (the names the service sends and subscribes as) is the
    party's name. Returns the party for further checks."""
    from kervan_servicekit.broker import subscriptions  # noqa: PLC0415

    declared = party(name)
    actual = subscriptions(broker)
    expected = {(topic, declared.group) for topic in declared.receives}
    assert actual == expected, f"{name} subscribes to {sorted(actual)}, declared {expected}"
    for producer in producers:
        assert producer == declared.name, f"{producer!r} is not the party's name {name!r}"
    return declared
