"""The gateway's tool names: the rule of the Anthropic and OpenAI tool APIs, unique, stable."""

from __future__ import annotations

import re

from agent_server.gateway.names import gateway_names

RULE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_plain_names_replace_other_characters() -> None:
    names = gateway_names([("calc.v1@home", "add"), ("web", "fetch:url"), ("ok-1", "a_b")])
    assert names == {
        ("calc.v1@home", "add"): "calc_v1_home__add",
        ("web", "fetch:url"): "web__fetch_url",
        ("ok-1", "a_b"): "ok-1__a_b",
    }


def test_colliding_names_each_get_a_hash_suffix() -> None:
    pairs = [("a.b", "t"), ("a_b", "t"), ("a:b", "t"), ("other", "t")]
    names = gateway_names(pairs)
    assert names[("other", "t")] == "other__t"
    colliding = [names[pair] for pair in pairs[:3]]
    assert len(set(colliding)) == 3
    assert all(re.fullmatch(r"a_b__t_[0-9a-f]{8}", name) for name in colliding)


def test_long_names_are_cut_to_64_with_a_hash_suffix() -> None:
    names = gateway_names([("s" * 100, "tool"), ("s" * 100, "tool2")])
    assert all(len(name) == 64 and RULE.match(name) for name in names.values())
    assert len(set(names.values())) == 2


def test_names_are_stable_whatever_else_is_served() -> None:
    alone = gateway_names([("a.b", "t"), ("a_b", "t")])
    more = gateway_names([("zzz", "q"), ("a_b", "t"), ("a.b", "t"), ("x", "y")])
    assert all(more[pair] == name for pair, name in alone.items())


def test_a_plain_name_never_shadows_a_hashed_one() -> None:
    first = gateway_names([("a.b", "t"), ("a_b", "t")])
    # A server whose plain name is exactly another tool's hashed name.
    taken = first[("a.b", "t")]
    server, _, tool = taken.partition("__")
    names = gateway_names([("a.b", "t"), ("a_b", "t"), (server, tool)])
    assert len(set(names.values())) == 3
    assert all(RULE.match(name) for name in names.values())
