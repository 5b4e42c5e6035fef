from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from noex_trio._topics import (
    TopicIndex,
    _Node,
    parse_pattern,
    parse_topic,
    topic_matches,
)

T = TypeVar("T", bound=Hashable)

# ---------------------------------------------------------------- grammar

GRAMMAR = [
    # exact
    ("user.created", "user.created", True),
    ("user.created", "user", False),
    ("user.created", "user.created.x", False),
    ("user.created", "user.deleted", False),
    ("a", "a", True),
    ("a", "b", False),
    # `*` is exactly one segment, in any position
    ("user.*", "user.created", True),
    ("user.*", "user.deleted", True),
    ("user.*", "user", False),
    ("user.*", "user.a.b", False),  # noex's code says True; noex's docs (and we) say False
    ("user.*", "users.a", False),
    ("*.created", "order.created", True),
    ("*.created", "created", False),
    ("*.created", "a.b.created", False),
    ("user.*.email", "user.42.email", True),
    ("user.*.email", "user.email", False),
    ("user.*.email", "user.a.b.email", False),
    ("user.*.x", "user.a.x", True),
    ("*.*", "a.b", True),
    ("*.*", "a", False),
    ("*.*", "a.b.c", False),
    # `*` alone matches every topic (noex compatibility)
    ("*", "a", True),
    ("*", "user.created", True),
    ("*", "a.b.c.d.e", True),
    # `**` is zero or more segments, in any position
    ("user.**", "user", True),
    ("user.**", "user.a", True),
    ("user.**", "user.a.b", True),
    ("user.**", "users", False),
    ("user.**", "admin.user", False),
    ("**.done", "done", True),
    ("**.done", "a.done", True),
    ("**.done", "a.b.done", True),
    ("**.done", "done.a", False),
    ("**.done", "undone", False),
    ("a.**.z", "a.z", True),
    ("a.**.z", "a.b.z", True),
    ("a.**.z", "a.b.c.z", True),
    ("a.**.z", "a", False),
    ("a.**.z", "z", False),
    ("a.**.z", "a.z.b", False),
    ("**", "a", True),
    ("**", "a.b.c", True),
    ("**.**", "a", True),
    ("a.**.**", "a", True),
    ("**.*", "a", True),
    ("**.*", "a.b.c", True),
    ("*.**", "a", True),
    ("*.**.*", "a", False),
    ("*.**.*", "a.b", True),
    ("a.**.b.**.c", "a.b.c", True),
    ("a.**.b.**.c", "a.x.b.y.y.c", True),
    ("a.**.b.**.c", "a.c.b", False),
    # segments are literal text apart from `.` and `*`
    ("user.#", "user.#", True),
    ("user.#", "user.a", False),
    ("ünï code.x", "ünï code.x", True),
]


def _one_entry_index(pattern: str) -> TopicIndex[str]:
    index: TopicIndex[str] = TopicIndex()
    index.add(pattern, "sub")
    return index


@pytest.mark.parametrize(("pattern", "topic", "expected"), GRAMMAR)
def test_grammar(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected
    assert _one_entry_index(pattern).match(topic) == (["sub"] if expected else [])


def test_parse_returns_segments() -> None:
    assert parse_topic("user.created") == ("user", "created")
    assert parse_topic("a") == ("a",)
    assert parse_pattern("user.*.**") == ("user", "*", "**")
    assert parse_pattern("*") == ("*",)


INVALID_TOPICS = [
    ("", r"^invalid topic '': topic is empty$"),
    ("a..b", r"^invalid topic 'a\.\.b': empty segment at position 2$"),
    (".a", r"^invalid topic '\.a': empty segment at position 1$"),
    ("a.", r"^invalid topic 'a\.': empty segment at position 2$"),
    (".", r"^invalid topic '\.': empty segment at position 1$"),
    ("user.*", r"^invalid topic 'user\.\*': wildcards are not allowed in published topics$"),
    ("**", r"^invalid topic '\*\*': wildcards are not allowed in published topics$"),
    ("us*er", r"^invalid topic 'us\*er': wildcards are not allowed in published topics$"),
    ("a..*", r"^invalid topic 'a\.\.\*': empty segment at position 2$"),
]


@pytest.mark.parametrize(("topic", "message"), INVALID_TOPICS)
def test_invalid_topic(topic: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_topic(topic)
    with pytest.raises(ValueError, match=message):
        topic_matches("**", topic)
    with pytest.raises(ValueError, match=message):
        _one_entry_index("**").match(topic)


INVALID_PATTERNS = [
    ("", r"^invalid pattern '': pattern is empty$"),
    ("user..x", r"^invalid pattern 'user\.\.x': empty segment at position 2$"),
    (".a", r"^invalid pattern '\.a': empty segment at position 1$"),
    ("a.", r"^invalid pattern 'a\.': empty segment at position 2$"),
    ("*.", r"^invalid pattern '\*\.': empty segment at position 2$"),
    ("us*er", r"^invalid pattern 'us\*er': '\*' must be a whole segment$"),
    ("a.b*", r"^invalid pattern 'a\.b\*': '\*' must be a whole segment$"),
    ("*a", r"^invalid pattern '\*a': '\*' must be a whole segment$"),
    ("a.**b", r"^invalid pattern 'a\.\*\*b': '\*' must be a whole segment$"),
    (
        "***",
        r"^invalid pattern '\*\*\*': '\*\*\*' at position 1 is not a wildcard, use '\*' or '\*\*'$",
    ),
    (
        "a.****",
        r"^invalid pattern 'a\.\*\*\*\*': '\*\*\*\*' at position 2 is not a wildcard,"
        r" use '\*' or '\*\*'$",
    ),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID_PATTERNS)
def test_invalid_pattern(pattern: str, message: str) -> None:
    index: TopicIndex[str] = TopicIndex()
    with pytest.raises(ValueError, match=message):
        parse_pattern(pattern)
    with pytest.raises(ValueError, match=message):
        topic_matches(pattern, "a")
    with pytest.raises(ValueError, match=message):
        index.add(pattern, "sub")
    with pytest.raises(ValueError, match=message):
        index.remove(pattern, "sub")
    assert len(index) == 0
    assert index.patterns() == []


def test_non_str_raises_type_error() -> None:
    index: TopicIndex[str] = TopicIndex()
    with pytest.raises(TypeError, match=r"^expected topic to be a str, got 1$"):
        parse_topic(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected topic to be a str, got b'a'$"):
        index.match(b"a")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected topic to be a str, got None$"):
        topic_matches("a", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected pattern to be a str, got 1$"):
        parse_pattern(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected pattern to be a str, got \['a'\]$"):
        index.add(["a"], "sub")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^expected pattern to be a str, got \('a',\)$"):
        index.remove(("a",), "sub")  # type: ignore[arg-type]


# ---------------------------------------------------------------- TopicIndex behaviour


def test_match_orders_by_insertion_across_patterns() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("user.created", "first")
    index.add("**", "second")
    index.add("other", "unrelated")
    index.add("*", "third")
    index.add("user.*", "fourth")
    index.add("*.created", "fifth")
    index.add("user.**", "sixth")
    index.add("user.created", "seventh")
    assert index.match("user.created") == [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
    ]
    assert index.match("other") == ["second", "unrelated", "third"]
    assert index.match("nothing.here.at.all") == ["second", "third"]


def test_same_item_under_two_matching_patterns_appears_twice() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("user.*", "sub")
    index.add("other", "x")
    index.add("user.created", "sub")
    assert index.match("user.created") == ["sub", "sub"]
    assert index.match("user.deleted") == ["sub"]
    assert len(index) == 3


def test_duplicate_entries_count_and_remove_one_at_a_time() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a.b", "sub")
    index.add("a.b", "other")
    index.add("a.b", "sub")
    assert len(index) == 3
    assert index.match("a.b") == ["sub", "other", "sub"]
    # The oldest duplicate goes first.
    assert index.remove("a.b", "sub") is True
    assert index.match("a.b") == ["other", "sub"]
    assert index.patterns() == ["a.b"]
    assert index.remove("a.b", "sub") is True
    assert index.match("a.b") == ["other"]
    assert index.remove("a.b", "sub") is False
    assert len(index) == 1


def test_remove_unknown_entries_returns_false() -> None:
    index: TopicIndex[str] = TopicIndex()
    assert index.remove("a.b", "sub") is False
    assert index.remove("*", "sub") is False
    index.add("a.b", "sub")
    index.add("*", "sub")
    assert index.remove("a.c", "sub") is False  # no such path
    assert index.remove("a", "sub") is False  # path exists, nothing ends there
    assert index.remove("a.b", "nobody") is False  # pattern exists, item does not
    assert index.remove("*", "nobody") is False
    assert index.remove("**", "sub") is False  # `*` alone is not `**`
    assert len(index) == 2
    assert index.patterns() == ["a.b", "*"]


def test_match_all_pattern_is_its_own_entry() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("*", "all")
    index.add("*.b", "star-b")
    assert index.match("a") == ["all"]
    assert index.match("a.b") == ["all", "star-b"]
    assert index.remove("*", "all") is True
    assert index.match("a") == []
    assert index.match("a.b") == ["star-b"]
    assert index.remove("*.b", "star-b") is True
    assert index.match("a.b") == []
    _assert_pruned(index)


def test_remove_prunes_empty_nodes() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a.b.c.d", "deep")
    index.add("a.b", "shallow")
    index.add("a.**.z", "glob")
    index.add("a.*.z", "star")
    assert set(index._root.children["a"].children) == {"b", "**", "*"}

    assert index.remove("a.b.c.d", "deep") is True
    # `a.b` still has an entry, so only `c.d` below it went.
    assert index._root.children["a"].children["b"].children == {}
    assert index.remove("a.**.z", "glob") is True
    assert set(index._root.children["a"].children) == {"b", "*"}
    assert index.remove("a.b", "shallow") is True
    assert set(index._root.children["a"].children) == {"*"}
    assert index.remove("a.*.z", "star") is True
    assert index._root.children == {}
    assert len(index) == 0
    assert index.patterns() == []
    _assert_pruned(index)


def test_remove_keeps_nodes_that_still_have_children() -> None:
    index: TopicIndex[str] = TopicIndex()
    index.add("a", "parent")
    index.add("a.b", "child")
    assert index.remove("a", "parent") is True
    assert index.match("a.b") == ["child"]
    assert index.match("a") == []
    assert "a" in index._root.children
    _assert_pruned(index)


def test_patterns_in_first_added_order() -> None:
    index: TopicIndex[str] = TopicIndex()
    assert index.patterns() == []
    index.add("b", "x")
    index.add("a.*", "x")
    index.add("b", "y")
    index.add("**", "x")
    index.add("*", "x")
    assert index.patterns() == ["b", "a.*", "**", "*"]
    assert index.remove("b", "x") is True
    assert index.patterns() == ["b", "a.*", "**", "*"]  # "b" still has "y"
    assert index.remove("b", "y") is True
    assert index.patterns() == ["a.*", "**", "*"]
    index.add("b", "z")  # a pattern that comes back goes to the end
    assert index.patterns() == ["a.*", "**", "*", "b"]
    assert index.remove("*", "x") is True
    assert index.patterns() == ["a.*", "**", "b"]


def test_len_and_repr() -> None:
    index: TopicIndex[object] = TopicIndex()
    assert len(index) == 0
    assert not index
    sub = object()
    index.add("a", sub)
    index.add("b", sub)
    index.add("b", sub)
    assert len(index) == 3
    assert repr(index) == "<TopicIndex entries=3 patterns=2>"
    assert index.match("b") == [sub, sub]


def test_items_compare_by_identity_when_they_do_not_define_eq() -> None:
    class Subscription:
        pass

    first, second = Subscription(), Subscription()
    index: TopicIndex[Subscription] = TopicIndex()
    index.add("a", first)
    index.add("a", second)
    assert index.remove("a", Subscription()) is False
    assert index.remove("a", second) is True
    assert index.match("a") == [first]


# ---------------------------------------------------------------- cost: unrelated entries unseen


def _visits(index: TopicIndex[int], topic: str) -> int:
    index.match(topic)
    return index._visited


def test_match_does_not_visit_unrelated_entries() -> None:
    small: TopicIndex[int] = TopicIndex()
    small.add("svc0.evt", 0)
    large: TopicIndex[int] = TopicIndex()
    for i in range(10_000):
        large.add(f"svc{i}.evt", i)

    # A miss stops at the root in both: one node visited, however many entries exist.
    assert _visits(small, "other.topic") == _visits(large, "other.topic") == 1
    # A hit walks root -> svcN -> evt only.
    assert _visits(small, "svc0.evt") == _visits(large, "svc9999.evt") == 3
    assert large.match("svc9999.evt") == [9999]
    assert large.match("svc42.evt.more") == []

    # Wildcard subscribers add their own branches, not a scan.
    large.add("*.evt", -1)
    large.add("**", -2)
    assert large.match("svc7.evt") == [7, -1, -2]
    # Per step, the active nodes: {root, **}; {svc7, *, **}; {svc7.evt, *.evt, **}.
    assert _visits(large, "svc7.evt") == 2 + 3 + 3
    # {root, **}; {*, **}; {**}: `*` has no `topic` child, so only `**` stays active.
    assert _visits(large, "other.topic") == 2 + 2 + 1


def test_globstar_chains_do_not_blow_up() -> None:
    index: TopicIndex[int] = TopicIndex()
    pattern = ".".join(["**"] * 12 + ["z"])
    index.add(pattern, 1)
    topic = ".".join(["a"] * 40)
    assert index.match(topic) == []
    assert index.match(topic + ".z") == [1]
    # Each of the 13 nodes on the path can be active at most once per segment.
    assert index._visited <= 14 * 42
    assert topic_matches(pattern, topic + ".z")
    assert not topic_matches(pattern, topic)


# ---------------------------------------------------------------- properties against a reference

SEGMENTS = ("a", "b", "c")


def reference_match(pattern: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    """Obviously correct (and exponential) matcher used as the oracle."""
    return pattern == ("*",) or _reference_walk(pattern, topic)


def _reference_walk(pattern: tuple[str, ...], topic: tuple[str, ...]) -> bool:
    if not pattern:
        return not topic
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return _reference_walk(rest, topic) or (bool(topic) and _reference_walk(pattern, topic[1:]))
    return bool(topic) and head in ("*", topic[0]) and _reference_walk(rest, topic[1:])


topics = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6).map(".".join)
patterns = st.lists(st.sampled_from((*SEGMENTS, "*", "**")), min_size=1, max_size=5).map(".".join)


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


@settings(deadline=None)
@given(pattern=patterns, topic=topics)
def test_topic_matches_agrees_with_reference(pattern: str, topic: str) -> None:
    expected = reference_match(_split(pattern), _split(topic))
    assert topic_matches(pattern, topic) is expected
    assert _one_entry_index(pattern).match(topic) == (["sub"] if expected else [])


operations = st.lists(
    st.tuples(st.sampled_from(("add", "add", "remove")), patterns, st.integers(0, 3)),
    max_size=40,
)


@settings(deadline=None, max_examples=300)
@given(ops=operations, probes=st.lists(topics, min_size=1, max_size=8))
def test_index_agrees_with_reference(ops: list[tuple[str, str, int]], probes: list[str]) -> None:
    index: TopicIndex[int] = TopicIndex()
    entries: list[tuple[str, int]] = []  # live entries, oldest first
    live_patterns: list[str] = []  # in the order each gained its first live entry
    for op, pattern, item in ops:
        if op == "add":
            index.add(pattern, item)
            if pattern not in (p for p, _ in entries):
                live_patterns.append(pattern)
            entries.append((pattern, item))
        else:
            present = (pattern, item) in entries
            assert index.remove(pattern, item) is present
            if present:
                entries.remove((pattern, item))  # the oldest such entry
                if pattern not in (p for p, _ in entries):
                    live_patterns.remove(pattern)
        assert len(index) == len(entries)
        assert index.patterns() == live_patterns
        _assert_pruned(index)

        for topic in probes:
            expected = [i for p, i in entries if reference_match(_split(p), _split(topic))]
            assert index.match(topic) == expected

    # Removing everything leaves an empty trie.
    for pattern, item in entries:
        assert index.remove(pattern, item) is True
    assert len(index) == 0
    assert index.patterns() == []
    assert index._root.children == {}
    assert index._match_all.entries == {}


def _assert_pruned(index: TopicIndex[T]) -> None:
    def walk(node: _Node[T]) -> None:
        for child in node.children.values():
            assert not child.is_empty()
            walk(child)

    walk(index._root)
