"""The catalogue of presets: providers known by name, each one a `Preset` (gateway.providers.preset).

Adding one is an entry in the module of its kind plus its fixtures (docs/providers.md).
"""

from __future__ import annotations

from gateway.providers.catalogue import commerce, devtools, messaging, schemes, workplace
from gateway.providers.preset import Preset

PRESETS: tuple[Preset, ...] = (
    *commerce.PRESETS,
    *devtools.PRESETS,
    *workplace.PRESETS,
    *messaging.PRESETS,
    *schemes.PRESETS,
)
