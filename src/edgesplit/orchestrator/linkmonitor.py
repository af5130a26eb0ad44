"""Keep a tier's link measurement fresh: probe through the broker, republish the profile.

Runs on the tier (`edgesplit profile link MODEL --tier T --every 5`): each round probes
the link with records of about a cut's size and publishes the tier's latest profile again
with the new `link`, which is what the orchestrator watches. A probe shares the link with
whatever the tier's stages send; the orchestrator adds their measured output to what the
probe got.
"""

from __future__ import annotations

from edgesplit.config import KafkaSettings
from edgesplit.errors import ConfigError
from edgesplit.log import get_logger
from edgesplit.orchestrator.linkprobe import probe_link
from edgesplit.orchestrator.profile import LinkProfile
from edgesplit.orchestrator.profiles_topic import publish_profile, read_profiles

log = get_logger("linkmonitor")


def refresh_link(
    settings: KafkaSettings,
    model: str,
    tier: str,
    *,
    probe_bytes: int = 64 * 1024,
    seconds: float = 0.5,
) -> LinkProfile:
    """Probe once (about `seconds` of traffic) and republish the tier's profile."""
    profile = read_profiles(settings, model).get(tier)
    if profile is None:
        raise ConfigError(
            f"no profile of {model} on tier {tier} on the profiles topic: run "
            f"`edgesplit profile {model} --tier {tier}` there first"
        )
    link = probe_link(settings, probe_bytes, rounds=3, target_s=seconds, max_s=2 * seconds)
    publish_profile(settings, profile.model_copy(update={"link": link}))
    return link
