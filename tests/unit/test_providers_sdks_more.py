"""More presets checked against the providers' own code: Python libraries on PyPI, and test
vectors that a provider prints in its documentation or pins in an official SDK's own tests.

The Python libraries are used as in tests/unit/test_providers_sdks.py (`check`: a request signed
by the library is accepted; a flipped byte, a stale timestamp, another secret are rejected; where
the library only verifies, it is shown to accept the same request). A vector is the provider's
exact (headers, body, secret, time): accepted as printed, rejected with one byte flipped.
"""

from __future__ import annotations

import pytest

from tests.unit.test_providers_sdks import BODY, OTHER, SECRET, check, source


def test_mollie_signature_validator() -> None:
    from mollie.utils.webhooks import InvalidSignatureException, SignatureValidator

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        signature = SignatureValidator.create_signature(body, secret)
        return {SignatureValidator.SIGNATURE_HEADER: "sha256=" + signature}

    headers = sign(SECRET, BODY, 0)
    assert SignatureValidator.validate(BODY, SECRET, headers["X-Mollie-Signature"])
    with pytest.raises(InvalidSignatureException):
        SignatureValidator.validate(BODY, OTHER, headers["X-Mollie-Signature"])
    # The next-gen webhooks' secret can be rotated: the library and the gateway take several.
    assert SignatureValidator.validate(BODY, [OTHER, SECRET], headers["X-Mollie-Signature"])
    check(source("mollie", [OTHER + "-old", SECRET]), sign, signed_timestamp=False)
