"""pytest plugin: real Kafka, PostgreSQL and Vault fixtures and an event recorder."""
