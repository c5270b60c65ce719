"""The record server's reviewer: what it asks the API server, what it caches, and for how long.

The review calls are recorded (not the API server): these tests are about the questions asked and
the caching, which the integration tests cannot observe. The real reviews are exercised against the
sandbox's API server in tests/integration/test_record_server.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from kuberun_operator.server import auth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Reviews:
    """Answers like an API server that knows one token and allows alice to get in team-a only."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.access: list[dict[str, Any]] = []
        self.fail = False

    async def token_review(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise auth.ReviewUnavailable("down")
        self.tokens.append(body["spec"]["token"])
        if body["spec"]["token"] == "good":
            return {"status": {"authenticated": True, "user": {"username": "alice", "uid": "u1", "groups": ["team"],
                                                                "extra": {"scopes": ["a"]}}}}
        return {"status": {"authenticated": False, "error": "invalid"}}

    async def access_review(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise auth.ReviewUnavailable("down")
        self.access.append(body["spec"])
        attrs = body["spec"]["resourceAttributes"]
        return {"status": {"allowed": body["spec"]["user"] == "alice" and attrs["namespace"] == "team-a"}}


def _reviewer(reviews: Reviews, clock: Clock, **kwargs: Any) -> auth.Reviewer:
    return auth.Reviewer(reviews.token_review, reviews.access_review, timer=clock, **kwargs)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer a\x00b",
                                    "Bearer " + "x" * (auth.MAX_TOKEN_BYTES + 1)])
async def test_malformed_credentials_are_refused_without_asking(header: str | None) -> None:
    reviews = Reviews()
    with pytest.raises(auth.Unauthorized):
        await _reviewer(reviews, Clock()).authenticate(header)
    assert reviews.tokens == []


async def test_identity_carries_what_the_token_review_said_into_the_access_review() -> None:
    reviews, clock = Reviews(), Clock()
    reviewer = _reviewer(reviews, clock)
    who = await reviewer.authenticate("Bearer good")
    assert who == auth.Identity("alice", "u1", ("team",), (("scopes", ("a",)),))
    assert await reviewer.allowed(who, "get", "team-a", "run-1")
    assert reviews.access == [{"user": "alice", "groups": ["team"], "uid": "u1", "extra": {"scopes": ["a"]},
                               "resourceAttributes": {"group": "kuberun.dev", "resource": "experiments", "verb": "get",
                                                      "namespace": "team-a", "name": "run-1"}}]
    with pytest.raises(auth.Forbidden, match=r'User "alice" cannot list resource "experiments".*"team-b"'):
        await reviewer.require(who, "list", "team-b")


async def test_answers_are_cached_until_the_ttl_then_asked_again() -> None:
    reviews, clock = Reviews(), Clock()
    reviewer = _reviewer(reviews, clock, ttl=10)
    for _ in range(3):
        who = await reviewer.authenticate("Bearer good")
        await reviewer.allowed(who, "get", "team-a", "x")
        with pytest.raises(auth.Unauthorized):
            await reviewer.authenticate("Bearer bad")
    assert reviews.tokens == ["good", "bad"] and len(reviews.access) == 1
    clock.now = 11
    await reviewer.allowed(await reviewer.authenticate("Bearer good"), "get", "team-a", "x")
    assert reviews.tokens == ["good", "bad", "good"] and len(reviews.access) == 2


async def test_caches_are_bounded() -> None:
    reviews, clock = Reviews(), Clock()
    reviewer = _reviewer(reviews, clock, size=2)
    who = await reviewer.authenticate("Bearer good")
    for name in ("a", "b", "c", "a"):
        await reviewer.allowed(who, "get", "team-a", name)
    assert [a["resourceAttributes"]["name"] for a in reviews.access] == ["a", "b", "c", "a"]


async def test_tokens_are_cached_by_digest_never_in_clear() -> None:
    reviews, clock = Reviews(), Clock()
    reviewer = _reviewer(reviews, clock)
    await reviewer.authenticate("Bearer good")
    assert "good" not in list(reviewer._identities.keys())


async def test_an_unavailable_review_is_an_error_and_is_not_cached() -> None:
    reviews, clock = Reviews(), Clock()
    reviewer = _reviewer(reviews, clock)
    reviews.fail = True
    with pytest.raises(auth.ReviewUnavailable):
        await reviewer.authenticate("Bearer good")
    reviews.fail = False
    assert (await reviewer.authenticate("Bearer good")).username == "alice"
