"""The provider registry: adding a provider is its module, its fixtures, and one line here;
adding a preset is one entry in gateway/providers/catalogue/ and its fixtures."""

from __future__ import annotations

from gateway.providers import (
    azakaw,
    compliancely,
    generic,
    github,
    iof,
    standard_webhooks,
    stripe,
    tlas,
)
from gateway.providers.base import Provider
from gateway.providers.catalogue import PRESETS
from gateway.providers.preset import provider as from_preset

REGISTRY: dict[str, Provider] = {
    p.name: p
    for p in (
        iof.PROVIDER,
        compliancely.PROVIDER,
        tlas.PROVIDER,
        azakaw.PROVIDER,
        standard_webhooks.PROVIDER,
        github.PROVIDER,
        stripe.PROVIDER,
        generic.PROVIDER,
        *(from_preset(preset) for preset in PRESETS),
    )
}
