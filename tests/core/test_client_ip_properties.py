"""Client-IP parsing (core.client_ip) of any X-Forwarded-For with any TRUSTED_PROXIES, as
properties (Hypothesis), against a reference written from the rule in the module docstring."""

from __future__ import annotations

import ipaddress

from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from core.client_ip import client_ip_from

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)

# A small address space, so trusted networks and hops overlap often.
v4 = st.builds(lambda last: f"10.0.0.{last}", st.integers(0, 15)) | st.builds(
    lambda a, b: f"203.0.{a}.{b}", st.integers(0, 3), st.integers(0, 7)
)
v6 = st.builds(lambda last: f"2001:db8::{last:x}", st.integers(0, 15))
addresses = v4 | v6
networks = st.one_of(
    st.builds(lambda ip: f"{ip}/32", v4),
    st.just("10.0.0.0/29"),
    st.just("203.0.0.0/22"),
    st.just("2001:db8::/124"),
    st.builds(lambda ip: f"{ip}/128", v6),
)


# What a hop in X-Forwarded-For can look like, including what clients forge or garble. Each is
# generated with the address it stands for (None: garbled), so the reference never parses text.
def _hop(text_of, ips):
    return st.builds(lambda ip: (text_of(ip), ipaddress.ip_address(ip)), ips)


hops = st.one_of(
    _hop(str, addresses),
    _hop(lambda ip: f"{ip}:4711", v4),
    _hop(lambda ip: f"[{ip}]:4711", v6),
    _hop(lambda ip: f"::ffff:{ip}", v4),
    st.sampled_from(["unknown", "not-an-ip", "999.1.1.1", "_hidden"]).map(lambda t: (t, None)),
    st.sampled_from(["", "  "]).map(lambda t: (t, "blank")),
)


def _header(forwarded) -> str:
    return ", ".join(text for text, _ in forwarded)


def reference(*, remote: str, forwarded, trusted: list[str]) -> str:
    """The peer, unless it is trusted; then walk X-Forwarded-For from the right, past trusted
    hops, and take the first untrusted one (a garbled hop ends the walk at the last good one;
    blank hops are skipped)."""
    nets = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def is_trusted(address) -> bool:
        return any(address in net for net in nets)

    peer = ipaddress.ip_address(remote)
    if not is_trusted(peer):
        return str(peer)
    candidate = peer
    for _, address in reversed([hop for hop in forwarded if hop[1] != "blank"]):
        if address is None:
            break
        candidate = address
        if not is_trusted(address):
            break
    return str(candidate)


@PROPERTY_SETTINGS
@given(
    remote=addresses,
    forwarded=st.lists(hops, max_size=6),
    trusted=st.lists(networks, max_size=4),
)
def test_client_ip_matches_the_reference(remote, forwarded, trusted):
    with override_settings(TRUSTED_PROXIES=trusted):
        got = client_ip_from(remote_addr=remote, forwarded_for=_header(forwarded))
    assert got == reference(remote=remote, forwarded=forwarded, trusted=trusted)
    ipaddress.ip_address(got)  # always an address, never a garbled hop


@PROPERTY_SETTINGS
@given(
    remote=addresses,
    real=st.lists(hops, max_size=4),
    forged=st.lists(hops, min_size=1, max_size=4),
    trusted=st.lists(networks, max_size=4),
)
def test_entries_a_client_writes_cannot_change_the_answer(remote, real, forged, trusted):
    # Hops left of the right-most untrusted (or garbled) one were written by the client.
    with override_settings(TRUSTED_PROXIES=trusted):
        honest = client_ip_from(remote_addr=remote, forwarded_for=_header(real))
        nets = [ipaddress.ip_network(n, strict=False) for n in trusted]
        parsed = [address for _, address in real if address != "blank"]
        peer_trusted = any(ipaddress.ip_address(remote) in net for net in nets)
        stops = any(p is None or not any(p in net for net in nets) for p in parsed)
        if not peer_trusted or stops:
            forged_answer = client_ip_from(
                remote_addr=remote, forwarded_for=_header([*forged, *real])
            )
            assert forged_answer == honest


@PROPERTY_SETTINGS
@given(remote=addresses, forwarded=st.lists(hops, max_size=6))
def test_without_trusted_proxies_the_peer_is_the_client(remote, forwarded):
    with override_settings(TRUSTED_PROXIES=[]):
        got = client_ip_from(remote_addr=remote, forwarded_for=_header(forwarded))
    assert got == str(ipaddress.ip_address(remote))
