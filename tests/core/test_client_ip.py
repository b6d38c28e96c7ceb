from __future__ import annotations

import pytest

from core.client_ip import client_ip_from, rate_limit_subject


@pytest.fixture
def trusted(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]


def test_untrusted_peer_forged_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip_from(remote_addr="198.51.100.7", forwarded_for="1.2.3.4") == "198.51.100.7"


def test_trusted_peer_gives_rightmost_untrusted_hop(trusted):
    # client forged "6.6.6.6"; the real client is what our proxy appended last
    got = client_ip_from(remote_addr="127.0.0.1", forwarded_for="6.6.6.6, 203.0.113.5, 10.1.2.3")
    assert got == "203.0.113.5"


def test_trusted_peer_with_garbage_hop_stops_there(trusted):
    assert (
        client_ip_from(remote_addr="10.0.0.1", forwarded_for="203.0.113.5, not-an-ip") == "10.0.0.1"
    )


def test_ipv6_subjects_group_by_slash_64():
    assert rate_limit_subject("2001:db8:1:2:aaaa::1") == rate_limit_subject("2001:db8:1:2:ffff::9")
    assert rate_limit_subject("2001:db8:1:3::1") != rate_limit_subject("2001:db8:1:2::1")
    assert rate_limit_subject("192.0.2.1") == "192.0.2.1"
