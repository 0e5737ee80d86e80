"""SHA-256 without OpenSSL gives hashlib's digests (input identities and alert ids depend on them)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from cloudward.alerts import alert_id
from cloudward.digest import sha256_hex


@given(st.binary(max_size=10_000))
def test_sha256_hex_is_hashlibs(data):
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_alert_ids_are_unchanged():
    # an id users have stored: it must stay the same across versions
    assert alert_id("K8S_PrivilegedContainer", "prod", "default/web") == "926ff18227f122ab28afa3a8"
