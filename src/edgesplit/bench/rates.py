"""Link rates and sizes as people and `tc` write them: "10mbit", "32kb".

Rates are bits per second with SI prefixes (k = 1000), as tc reads them; "kibit" and
friends are the binary (1024) ones. tc's "kbps"/"mbps" mean *bytes* per second, a
classic trap, so they are refused with the bit spelling to use instead. Sizes are bytes
("32kb" = 32 KiB, as tc reads burst sizes).
"""

from __future__ import annotations

import re

from edgesplit.errors import ConfigError

_NUMBER = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")

_RATE_UNITS = {
    "": 1,
    "bit": 1,
    "kbit": 10**3,
    "mbit": 10**6,
    "gbit": 10**9,
    "tbit": 10**12,
    "kibit": 2**10,
    "mibit": 2**20,
    "gibit": 2**30,
    "tibit": 2**40,
}

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 2**10,
    "m": 2**20,
    "mb": 2**20,
    "g": 2**30,
    "gb": 2**30,
}


def parse_rate(text: str) -> int:
    """'10mbit', '5Mbit', '100kbit', '1gbit' -> bits per second (a positive int)."""
    match = _NUMBER.fullmatch(text.lower())
    unit = match.group(2) if match else ""
    if match is None or unit not in _RATE_UNITS:
        hint = ""
        if match is not None and unit.endswith("bps"):
            bits = float(match.group(1)) * 8
            hint = (
                f" ({text!r} is bytes per second to tc; write {bits:g}{unit[:-3]}bit"
                f" for that, or {match.group(1)}{unit[:-3]}bit if bits were meant)"
            )
        raise ConfigError(
            f"bad rate {text!r}: write a number and a unit in bits per second, "
            f"e.g. 10mbit, 500kbit, 1gbit{hint}"
        )
    bits = round(float(match.group(1)) * _RATE_UNITS[unit])
    if bits < 8:
        raise ConfigError(f"rate {text!r} is too low: give at least 8 bit/s, e.g. 100kbit")
    return bits


def parse_size(text: str) -> int:
    """'32kb', '64k', '1500b', '1mb', '20000' -> bytes (a positive int)."""
    match = _NUMBER.fullmatch(text.lower())
    unit = match.group(2) if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ConfigError(f"bad size {text!r}: write bytes with a unit, e.g. 32kb, 1500b, 1mb")
    size = round(float(match.group(1)) * _SIZE_UNITS[unit])
    if size < 1:
        raise ConfigError(f"size {text!r} is too small: give at least 1 byte")
    return size


def format_rate(bits_per_s: float) -> str:
    """A rate for people: 10000000 -> '10 Mbit/s'."""
    for factor, prefix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if bits_per_s >= factor:
            return f"{bits_per_s / factor:.4g} {prefix}bit/s"
    return f"{bits_per_s:.4g} bit/s"


def format_size(size: int) -> str:
    """A byte count for people: 32768 -> '32 KiB'."""
    for factor, prefix in ((2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if size >= factor:
            return f"{size / factor:.4g} {prefix}B"
    return f"{size} B"
