"""Thin typed wrappers around confluent-kafka: admin calls and client configurations."""
