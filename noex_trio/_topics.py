"""Topic grammar and the segment-indexed subscription index behind the EventBus.

A **topic** names an event: one or more dot-separated segments, such as `user.created`. A segment is
any non-empty text without `.` or `*`; a published topic never contains wildcards.

A **pattern** selects topics. Its segments are exact segments or one of two wildcards, each of which
must be a whole segment:

- `*` matches **exactly one** segment, in any position.
- `**` matches **zero or more** segments, in any position.
- The pattern `"*"` *on its own* is a special case kept for noex compatibility: it matches every
  topic, however many segments it has (as `"**"` does). Anywhere else `*` is one segment.

| pattern        | matches                            | does not match                   |
|----------------|------------------------------------|----------------------------------|
| `user.created` | `user.created`                     | `user`, `user.created.x`         |
| `user.*`       | `user.created`, `user.deleted`     | `user`, `user.a.b`               |
| `*.created`    | `order.created`                    | `created`, `a.b.created`         |
| `user.*.email` | `user.42.email`                    | `user.email`, `user.a.b.email`   |
| `*`            | every topic: `a`, `a.b`, `a.b.c`   | (nothing)                        |
| `user.**`      | `user`, `user.a`, `user.a.b`       | `users`, `admin.user`            |
| `**.done`      | `done`, `a.done`, `a.b.done`       | `done.a`, `undone`               |
| `a.**.z`       | `a.z`, `a.b.z`, `a.b.c.z`          | `a`, `z`, `a.z.b`                |
| `**`           | every topic                        | (nothing)                        |

Invalid input raises where it is given (at subscribe or publish time, never at delivery):

- a topic or pattern that is not a `str` raises `TypeError` (`expected topic to be a str, got 42`);
- an empty topic or pattern, an empty segment (`""`, `"a..b"`, `".a"`, `"a."`), a wildcard in a
  published topic (`user.*`), or a wildcard that is not a whole segment (`us*er`, `a.b*`, `***`)
  raises `ValueError` naming the problem (`invalid pattern 'user..x': empty segment at position 2`;
  positions count segments from 1).

noex differs: its trailing `*` is a prefix match (`user.*` matches `user.a.b`), which its own
documentation says it should not be, and it has no `**`. noex_trio follows the documentation.

`TopicIndex` keeps `(pattern, item)` entries in a trie keyed by segment, so that matching a topic
costs time in proportion to the topic's depth, the wildcard branches it can follow and the number of
matches, never to the number of unrelated subscriptions.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from operator import itemgetter
from typing import Generic, TypeVar

from . import _checks as checks

T = TypeVar("T", bound=Hashable)

_STAR = "*"
_GLOBSTAR = "**"
_WILDCARDS = (_STAR, _GLOBSTAR)
_MATCH_ALL = (_STAR,)
_first = itemgetter(0)


def parse_topic(topic: str) -> tuple[str, ...]:
    """Validate a topic to be published and split it into segments.

    Args:
        topic: A dot-separated topic such as `"user.created"`.

    Returns:
        The topic's segments, e.g. `("user", "created")`.

    Raises:
        TypeError: If `topic` is not a `str`.
        ValueError: If `topic` is empty, has an empty segment or contains `*`.
    """
    checks.instance(topic, "topic", str)
    segments = topic.split(".")
    if "" in segments or _STAR in topic:
        _check_segments("topic", topic, segments)
        raise ValueError(f"invalid topic {topic!r}: wildcards are not allowed in published topics")
    return tuple(segments)


def parse_pattern(pattern: str) -> tuple[str, ...]:
    """Validate a subscription pattern and split it into segments.

    Args:
        pattern: A dot-separated pattern such as `"user.*"` or `"audit.**"`.

    Returns:
        The pattern's segments, e.g. `("user", "*")`. Wildcards are kept as `"*"` and `"**"`.

    Raises:
        TypeError: If `pattern` is not a `str`.
        ValueError: If `pattern` is empty, has an empty segment, or uses `*` other than as a
            whole `*` or `**` segment.
    """
    checks.instance(pattern, "pattern", str)
    segments = pattern.split(".")
    _check_segments("pattern", pattern, segments)
    for position, segment in enumerate(segments, 1):
        if _STAR in segment and segment not in _WILDCARDS:
            if segment.strip(_STAR):
                raise ValueError(f"invalid pattern {pattern!r}: '*' must be a whole segment")
            raise ValueError(
                f"invalid pattern {pattern!r}: {segment!r} at position {position}"
                " is not a wildcard, use '*' or '**'"
            )
    return tuple(segments)


def _check_segments(kind: str, text: str, segments: list[str]) -> None:
    if not text:
        raise ValueError(f"invalid {kind} '': {kind} is empty")
    if "" in segments:
        position = segments.index("") + 1
        raise ValueError(f"invalid {kind} {text!r}: empty segment at position {position}")


def topic_matches(pattern: str, topic: str) -> bool:
    """Tell whether `pattern` selects `topic`.

    A convenience for one-off checks; to match one topic against many patterns use `TopicIndex`.

    Args:
        pattern: A subscription pattern (see the module docstring for the grammar).
        topic: A published topic.

    Returns:
        `True` if an event published on `topic` reaches a subscriber of `pattern`.

    Raises:
        TypeError: If either argument is not a `str`.
        ValueError: If `pattern` or `topic` is invalid.
    """
    return segments_match(parse_pattern(pattern), parse_topic(topic))


def segments_match(pattern: tuple[str, ...], segments: Iterable[str]) -> bool:
    """Whether a parsed pattern (`parse_pattern`) selects these segments. Any text is a segment
    here (the registry matches keys that are not valid topics: only wildcards select an empty
    segment or one holding a ``*``); ``("*",)`` selects everything."""
    if pattern == _MATCH_ALL:
        return True
    # An NFA walk over pattern positions: `states` holds every position the pattern can be at
    # after the segments read so far. A `**` position may be skipped (zero segments) or stay put
    # (one more segment).
    last = len(pattern)
    states = _skip_globstars(pattern, {0})
    for segment in segments:
        following = set()
        for position in states:
            if position < last:
                wanted = pattern[position]
                if wanted == _GLOBSTAR:
                    following.add(position)
                elif wanted in (_STAR, segment):
                    following.add(position + 1)
        states = _skip_globstars(pattern, following)
    return last in states


def _skip_globstars(pattern: tuple[str, ...], states: set[int]) -> set[int]:
    pending = list(states)
    while pending:
        position = pending.pop()
        following = position + 1
        if position < len(pattern) and pattern[position] == _GLOBSTAR and following not in states:
            states.add(following)
            pending.append(following)
    return states


class _Node(Generic[T]):
    """One trie node: the patterns that share a segment prefix.

    `children` is keyed by the next segment; the wildcards are ordinary keys `"*"` and `"**"`,
    which no valid topic segment can collide with. `entries` maps each item subscribed with the
    pattern ending here to the insertion numbers of its entries (an item may be added twice).
    """

    __slots__ = ("children", "entries", "loops")

    def __init__(self, *, loops: bool) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.entries: dict[T, list[int]] = {}
        # True for the node reached through a `**` edge: it may consume any number of segments.
        self.loops = loops

    def is_empty(self) -> bool:
        return not self.children and not self.entries


class TopicIndex(Generic[T]):
    """A multiset of `(pattern, item)` entries, queried by topic.

    Each entry is one subscription: the same item may be added under several patterns, or twice
    under the same pattern, and every entry counts (and matches) separately. Items are compared with
    `==` and hashed, so identity objects work as they are.

    `match` costs time in proportion to the topic's depth, the wildcard branches it can follow and
    the number of matches; entries under unrelated patterns are never looked at.

    Example::

        index: TopicIndex[str] = TopicIndex()
        index.add("user.*", "audit")
        index.add("user.created", "mailer")
        index.match("user.created")  # ["audit", "mailer"]
        index.match("order.created")  # []
    """

    def __init__(self) -> None:
        self._root: _Node[T] = _Node(loops=False)
        # Entries for the pattern "*" alone, which matches every topic (noex compatibility).
        self._match_all: _Node[T] = _Node(loops=False)
        # Distinct live patterns -> their number of entries; dict order is first-added order.
        self._patterns: dict[str, int] = {}
        self._next_seq = 0
        self._size = 0
        # Trie nodes visited by the last `match` (for tests: proves unrelated entries are skipped).
        self._visited = 0

    def __len__(self) -> int:
        """Return the number of entries."""
        return self._size

    def __repr__(self) -> str:
        return f"<TopicIndex entries={self._size} patterns={len(self._patterns)}>"

    def add(self, pattern: str, item: T) -> None:
        """Add one entry: `item` is interested in the topics `pattern` selects.

        Args:
            pattern: A subscription pattern (see the module docstring for the grammar).
            item: The subscriber; adding the same `(pattern, item)` twice makes two entries.

        Raises:
            TypeError: If `pattern` is not a `str`.
            ValueError: If `pattern` is invalid; the index is left unchanged.
        """
        segments = parse_pattern(pattern)
        node = self._match_all
        if segments != _MATCH_ALL:
            node = self._root
            for segment in segments:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node(loops=segment == _GLOBSTAR)
                node = child
        node.entries.setdefault(item, []).append(self._next_seq)
        self._next_seq += 1
        self._size += 1
        self._patterns[pattern] = self._patterns.get(pattern, 0) + 1

    def remove(self, pattern: str, item: T) -> bool:
        """Remove one entry of `item` under `pattern` (the oldest, if it was added twice).

        Trie nodes left without entries or children are pruned, so a long-lived index does not
        keep the shape of every pattern it ever held.

        Args:
            pattern: The pattern the entry was added under.
            item: The subscriber to remove.

        Returns:
            `True` if an entry was removed, `False` if there was none.

        Raises:
            TypeError: If `pattern` is not a `str`.
            ValueError: If `pattern` is invalid.
        """
        segments = parse_pattern(pattern)
        if segments == _MATCH_ALL:
            path: list[tuple[_Node[T], str]] = []
            node = self._match_all
        else:
            path = []
            node = self._root
            for segment in segments:
                child = node.children.get(segment)
                if child is None:
                    return False
                path.append((node, segment))
                node = child
        seqs = node.entries.get(item)
        if seqs is None:
            return False
        del seqs[0]
        if not seqs:
            del node.entries[item]
        self._size -= 1
        if self._patterns[pattern] == 1:
            del self._patterns[pattern]
        else:
            self._patterns[pattern] -= 1
        # Prune from the leaf up while nodes are empty.
        for parent, segment in reversed(path):
            if not parent.children[segment].is_empty():
                break
            del parent.children[segment]
        return True

    def match(self, topic: str) -> list[T]:
        """Return the items of every entry whose pattern selects `topic`.

        An item appears once per matching entry: subscribed under two matching patterns (or twice
        under one), it appears twice. Items come in the order their entries were added, whatever
        their patterns.

        Args:
            topic: A published topic.

        Returns:
            The matching items, oldest entry first; empty if nothing matches.

        Raises:
            TypeError: If `topic` is not a `str`.
            ValueError: If `topic` is invalid.
        """
        segments = parse_topic(topic)
        # An NFA walk: `states` holds every trie node the topic's prefix read so far can end at.
        # Each node enters a state set at most once per segment, so `**` never blows up.
        states = _follow_globstars({self._root})
        visited = len(states)
        for segment in segments:
            following: set[_Node[T]] = set()
            for node in states:
                if node.loops:
                    following.add(node)
                children = node.children
                if children:
                    exact = children.get(segment)
                    if exact is not None:
                        following.add(exact)
                    star = children.get(_STAR)
                    if star is not None:
                        following.add(star)
            states = _follow_globstars(following)
            visited += len(states)
            if not states:
                break
        self._visited = visited
        found = [
            (seq, item) for node in states for item, seqs in node.entries.items() for seq in seqs
        ]
        found.extend((seq, item) for item, seqs in self._match_all.entries.items() for seq in seqs)
        found.sort(key=_first)
        return [item for _, item in found]

    def patterns(self) -> list[str]:
        """Return the distinct patterns that have at least one entry.

        Returns:
            The patterns in the order they gained their first entry (a pattern whose entries were
            all removed and which is added again moves to the end).
        """
        return list(self._patterns)


def _follow_globstars(states: set[_Node[T]]) -> set[_Node[T]]:
    # Add the nodes reachable through `**` edges without reading a segment (`**` matching zero).
    pending = list(states)
    while pending:
        globstar = pending.pop().children.get(_GLOBSTAR)
        if globstar is not None and globstar not in states:
            states.add(globstar)
            pending.append(globstar)
    return states
