"""The error tree: one root, a typed branch per area.

Domain code raises these; only the CLI turns them into a one-line message and exit
code 1. Every message says what went wrong and what to do about it.
"""

from __future__ import annotations


class EdgesplitError(Exception):
    """Root of every error edgesplit raises on purpose."""


# --- configuration and environment -------------------------------------------------


class ConfigError(EdgesplitError):
    """Bad settings, a bad plan file, or no broker to talk to."""


class ToolMissingError(ConfigError):
    """A program edgesplit needs (java, mvn) is not installed."""


class AssetError(ConfigError):
    """A pinned asset (weights, photos, data) could not be fetched or failed its sha256 check."""


# --- the local broker ---------------------------------------------------------------


class BrokerError(EdgesplitError):
    """The managed local broker could not be installed, started or stopped."""


class MavenError(BrokerError):
    """Maven could not fetch the broker's jars."""


class PortInUseError(BrokerError):
    """A port the broker should listen on is taken."""


class BrokerStartError(BrokerError):
    """The broker process exited or never answered during start-up."""


class BrokerUnreachableError(EdgesplitError):
    """No answer from the Kafka cluster at the given bootstrap address."""


# --- the emulated tiers testbed -------------------------------------------------------


class TestbedError(EdgesplitError):
    """The emulated edge (namespace, shaped uplink, CPU quota) could not be set up or changed."""


class PrivilegeError(TestbedError):
    """The testbed needs root (network namespaces, qdiscs and cgroups are root's)."""


# --- schemas and codec -------------------------------------------------------------


class SchemaError(EdgesplitError):
    """A record could not be encoded or decoded."""


class EncodeError(SchemaError):
    """A value cannot be written as the requested record (bad dtype, bad encoding)."""


class DecodeError(SchemaError):
    """Bytes that are not a valid record. Keeps the raw bytes and names the field at fault."""

    def __init__(self, message: str, *, field: str, raw: bytes) -> None:
        super().__init__(f"{field}: {message}")
        self.reason = message
        self.field = field
        self.raw = raw


# --- runtime -----------------------------------------------------------------------


class StageError(EdgesplitError):
    """A stage could not load or run its partition of the model."""


class DeliveryError(EdgesplitError):
    """Kafka did not accept or deliver a record."""


class ArtifactError(EdgesplitError):
    """A stage partition shipped through Kafka is missing, incomplete or fails its sha256."""

    def __init__(self, message: str, *, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class PlanningError(EdgesplitError):
    """No valid plan for the model, the cuts or the tiers asked for."""
