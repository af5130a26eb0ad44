"""The managed local Kafka broker (KRaft, single node) for development, tests and demos."""

from edgesplit.broker.jars import KAFKA_VERSION
from edgesplit.broker.local import BrokerState, BrokerStatus, LocalBroker, StartResult

__all__ = ["KAFKA_VERSION", "BrokerState", "BrokerStatus", "LocalBroker", "StartResult"]
