"""pytest plugin: real Kafka, PostgreSQL and Vault fixtures and an event recorder."""

from kervan_testkit.waiting import wait_until

__all__ = ["wait_until"]
