"""From what people know ("bank transfers failing") to a catalog service, ranked.

Scores each service by its name, aliases, id and keywords against the words of the text, tolerant
of case, punctuation and small typos. `route` only picks one service when it clearly beats the
rest; ambiguous text yields no pick so the declarer chooses, rather than paging the wrong team.

The rule (tests/test_routing_reference.py scores it by brute force and compares):
- the text and every name, id, alias and keyword are compared as words (`app.text.words`: accents
  folded, lower case, runs of letters and digits);
- a word of the text counts for a word of a name when they are equal or, both having at least four
  characters, alike: `1 - d / (len(a) + len(b)) >= 0.8`, where `d` counts the characters dropped
  from either word to make them equal (a missing or extra letter costs 1, a wrong or swapped
  pair 2: "tranfsers" is 0.89 like "transfers");
- a name scores the mean, over its words that are not stop words ("the", "down", "failing"; all
  its words if it has nothing else), of the best likeness any word of the text reaches;
- a service scores its best name, id or alias, or 0.9 x its best keyword (a hint, not a name);
  those scoring at least 0.5 are ranked by score, then by name.

All of that is worked out once per catalog (`index`, kept with the catalog, so a hot reload brings a
new one): which names hold each word, and the words by length for the typo pass, which
rapidfuzz's Indel distance runs over in C. A request then touches only the words it typed and the
names holding them, well under a millisecond at 2,000 services.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import groupby
from typing import Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import Indel

from app.catalog import Catalog, Service
from app.text import words


STOP_WORDS = {"the", "a", "an", "is", "are", "of", "on", "in", "to", "for", "and", "or", "not", "can", "t", "cant", "down", "failing", "broken", "slow", "errors", "error"}


SIMILAR = 0.8  # a word this alike a name's word counts as that word (a small typo)
TYPO_MIN_LENGTH = 4  # shorter words must be typed exactly ("api" is not "app")
KEYWORD_WEIGHT = 0.9  # keywords hint at a service without naming it
LEAST_SCORE = 0.5  # below this a service is not offered at all
_NEAR_CACHE = 4096  # typed words remembered per catalog, with the catalog words they are close to


@dataclass(frozen=True)
class Match:
    service: Service
    score: float


def meaningful(phrase: str) -> tuple[str, ...]:
    """The words of a name that count: its words without the stop words, or all of them when nothing else is left."""
    found = words(phrase)
    return tuple(w for w in found if w not in STOP_WORDS) or tuple(found)


class RoutingIndex:
    """One catalog's services, arranged so that a text is scored by the words it has, not by every service."""

    def __init__(self, catalog: Catalog) -> None:
        self.services = list(catalog.services.values())  # catalog order: the type-ahead's prefix and substring matches
        self._by_name = sorted(range(len(self.services)), key=lambda i: self.services[i].name)  # rank -> position
        self._phrases: list[tuple[int, tuple[str, ...], float]] = []  # (service rank, meaningful words, weight)
        holders: dict[str, set[int]] = defaultdict(set)  # word -> phrases holding it
        groups: dict[str, dict[tuple[int, int, float], list[int]]] = defaultdict(lambda: defaultdict(list))
        for rank, position in enumerate(self._by_name):
            service = self.services[position]
            named = [(p, 1.0) for p in (service.name, service.id.replace("-", " "), *service.aliases)]
            for phrase, weight in named + [(k, KEYWORD_WEIGHT) for k in service.keywords]:
                counted = meaningful(phrase)
                if not counted:
                    continue
                self._phrases.append((rank, counted, weight))
                for word, times in Counter(counted).items():
                    holders[word].add(len(self._phrases) - 1)
                    # A phrase that only this word of the text touches scores (times x likeness) / length:
                    # the same for every phrase of that shape, so those services are kept together, by name.
                    ranks = groups[word][(times, len(counted), weight)]
                    if not ranks or ranks[-1] != rank:
                        ranks.append(rank)
        self._holders = {word: frozenset(ids) for word, ids in holders.items()}
        self._groups = {word: list(shapes.items()) for word, shapes in groups.items()}
        by_length: dict[int, list[str]] = defaultdict(list)
        for word in self._holders:
            if len(word) >= TYPO_MIN_LENGTH:
                by_length[len(word)].append(word)
        self._by_length = sorted(by_length.items())
        self._near_cache: dict[str, dict[str, float]] = {}
        # The type-ahead: lower-case names sorted (prefixes) and joined in catalog order (substrings).
        lower = [s.name.lower() for s in self.services]
        self._sorted_lower = sorted(range(len(lower)), key=lambda i: lower[i])
        self._sorted_names = [lower[i] for i in self._sorted_lower]
        self._joined = "\n".join(lower)
        self._starts: list[int] = []
        offset = 0
        for name in lower:
            self._starts.append(offset)
            offset += len(name) + 1
        self._lower = lower

    # -- scoring ------------------------------------------------------------------------------------

    def near(self, said: str) -> dict[str, float]:
        """The catalog's words this typed word counts for, with their likeness (itself included, when a name has it)."""
        found = self._near_cache.get(said)
        if found is not None:
            return found
        found = {said: 1.0} if said in self._holders else {}
        n = len(said)
        if n >= TYPO_MIN_LENGTH:
            shortest, longest = (2 * n + 2) // 3, (3 * n) // 2  # beyond these lengths no word can be alike enough
            for length, bucket in self._by_length:
                if length < shortest:
                    continue
                if length > longest:
                    break
                total = n + length
                if length == n and total // 5 < 2:
                    continue  # two words of one length differ by an even count: at most 1 means equal, found above
                for word, distance, _ in process.extract(said, bucket, scorer=Indel.distance, score_cutoff=total // 5, limit=None):
                    if distance:
                        found[word] = 1 - distance / total
        if len(said) <= 40:
            if len(self._near_cache) >= _NEAR_CACHE:
                self._near_cache.clear()
            self._near_cache[said] = found
        return found

    def rank(self, text: str, limit: int = 5) -> list[Match]:
        said = set(words(text))
        best: dict[str, float] = {}
        for typed in said:
            for word, alike in self.near(typed).items():
                if alike > best.get(word, 0.0):
                    best[word] = alike
        if not best:
            return []
        levels: list[tuple[float, Sequence[int]]] = []
        for word, alike in best.items():
            for (times, length, weight), ranks in self._groups[word]:
                levels.append((_phrase_score([alike] * times, length, weight), ranks))
        # Phrases holding two or more of the words found are scored whole (the groups above gave each a lower bound).
        for phrase in self._shared_phrases(best):
            rank, counted, weight = self._phrases[phrase]
            levels.append((_phrase_score([best.get(w, 0.0) for w in counted], len(counted), weight), (rank,)))
        rounded = sorted(((round(score, 3), ranks) for score, ranks in levels if score >= LEAST_SCORE), key=lambda level: -level[0])
        matches: list[Match] = []
        placed: set[int] = set()
        for score, same in groupby(rounded, key=lambda level: level[0]):
            lists = [ranks for _, ranks in same]
            for rank in lists[0] if len(lists) == 1 else heapq.merge(*lists):
                if rank not in placed:  # a service scores its best phrase: the first (highest) level it is on
                    placed.add(rank)
                    matches.append(Match(self.services[self._by_name[rank]], score))
                    if len(matches) >= limit:
                        return matches
        return matches

    def _shared_phrases(self, best: dict[str, float]) -> set[int]:
        shared: set[int] = set()
        if len(best) < 2:
            return shared
        seen: set[int] = set()
        holders = sorted((self._holders[word] for word in best), key=len)
        for ids in holders[:-1]:
            shared |= seen & ids
            seen |= ids
        shared |= seen & holders[-1]
        return shared

    def route(self, text: str) -> Service | None:
        matches = self.rank(text)
        if not matches or matches[0].score < 0.8:
            return None
        if len(matches) > 1 and matches[1].score >= matches[0].score - 0.1:
            return None
        return matches[0].service

    # -- the type-ahead -----------------------------------------------------------------------------

    def search(self, text: str, limit: int = 100) -> list[Service]:
        ranked = [m.service for m in self.rank(text, limit)]
        needle = text.strip().lower()
        if not needle or len(ranked) >= limit:
            return ranked[:limit]
        taken = {s.id for s in ranked}
        wanted = limit - len(ranked)
        prefix = self._prefixed(needle, taken, wanted)
        taken.update(self.services[p].id for p in prefix)
        contains = self._containing(needle, taken, wanted - len(prefix)) if len(prefix) < wanted else []
        return (ranked + [self.services[p] for p in prefix + contains])[:limit]

    def _prefixed(self, needle: str, taken: set[str], wanted: int) -> list[int]:
        """Positions (catalog order) of the first `wanted` names starting with `needle`, other than `taken`."""
        start = bisect_left(self._sorted_names, needle)
        end = bisect_left(self._sorted_names, True, start, key=lambda name: not name.startswith(needle))
        return _first(sorted(self._sorted_lower[start:end]), self.services, taken, wanted)

    def _containing(self, needle: str, taken: set[str], wanted: int) -> list[int]:
        """Positions (catalog order) of the first `wanted` names holding `needle`, other than `taken`."""
        found: list[int] = []
        at = self._joined.find(needle)
        while at >= 0 and len(found) < wanted:
            position = bisect_right(self._starts, at) - 1
            end = self._starts[position] + len(self._lower[position])
            if at + len(needle) <= end:  # within one name, not across the line between two
                if self.services[position].id not in taken:
                    found.append(position)
                at = self._joined.find(needle, end + 1)
            else:
                at = self._joined.find(needle, at + 1)
        return found


def _phrase_score(likeness: Iterable[float], length: int, weight: float) -> float:
    """A phrase's score from the likeness of each of its counted words (0 for a word the text lacks), summed in order."""
    total = 0.0
    for alike in likeness:
        total += alike
    score = total / length
    return weight * score if weight != 1.0 else score


def _first(positions: Iterable[int], services: list[Service], taken: set[str], wanted: int) -> list[int]:
    out: list[int] = []
    for position in positions:
        if len(out) >= wanted:
            break
        if services[position].id not in taken:
            out.append(position)
    return out


def index(catalog: Catalog) -> RoutingIndex:
    """The catalog's routing index, built on first use (or when the catalog is prepared) and kept with it."""
    return catalog.derived(RoutingIndex)


def rank(catalog: Catalog, text: str, limit: int = 5) -> list[Match]:
    return index(catalog).rank(text, limit)


def route(catalog: Catalog, text: str) -> Service | None:
    """The one service the text clearly names, or None when it names none or several."""
    return index(catalog).route(text)


def search(catalog: Catalog, text: str, limit: int = 100) -> list[Service]:
    """For the type-ahead menu: ranked matches, then services whose name starts with the text, then those holding it."""
    return index(catalog).search(text, limit)
