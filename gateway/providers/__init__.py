"""The provider registry: adding a provider is its module, its fixtures, and one line here."""

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
    )
}
