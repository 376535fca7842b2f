"""The bearer check of the widget's server-to-server routes (photos for the handoff service,
the Rasa widget channel's agent activity): a wrong or undecodable header is no match, never an
error."""
from __future__ import annotations

import pytest

from contracts.widget import bearer_matches


def test_the_right_bearer_token_matches() -> None:
    assert bearer_matches("Bearer s3cret-token", "s3cret-token")
    assert bearer_matches("Bearer  s3cret-token ", "s3cret-token")


@pytest.mark.parametrize("header", [
    None, "", "Bearer ", "Bearer wrong", "Bearer s3cret-token2", "Basic s3cret-token",
    # What Sanic makes of bytes that are not UTF-8 (surrogateescape), and a NUL.
    b"Bearer \xed\xa0\x80\x00".decode("utf-8", "surrogateescape"),
    "Bearer s3cret-\udcff", "Bearer \ud800",
])
def test_wrong_or_undecodable_headers_do_not_match(header: str | None) -> None:
    assert not bearer_matches(header, "s3cret-token")


def test_an_unset_token_matches_nothing() -> None:
    assert not bearer_matches("Bearer ", "")
    assert not bearer_matches("Bearer x", "")
