"""From what people know ("bank transfers failing") to a catalog service, ranked.

Scores each service by its name, aliases and id against the words of the text, tolerant of
case, punctuation and small typos. `route` only picks one service when it clearly beats the
rest; ambiguous text yields no pick so the declarer chooses, rather than paging the wrong team.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from app.catalog import Catalog, Service
from app.text import words


_STOP = {"the", "a", "an", "is", "are", "of", "on", "in", "to", "for", "and", "or", "not", "can", "t", "cant", "down", "failing", "broken", "slow", "errors", "error"}


SIMILAR = 0.8  # a word this close to a name's word counts as that word (a small typo)


@lru_cache(maxsize=65536)
def _similar(a: str, b: str) -> float:
    """How alike two words are, 0..1; cheap upper bounds first, the full ratio only when it could pass."""
    if a == b:
        return 1.0
    if len(a) < 4 or len(b) < 4 or abs(len(a) - len(b)) > max(len(a), len(b)) * (1 - SIMILAR) * 2:
        return 0.0
    matcher = SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < SIMILAR or matcher.quick_ratio() < SIMILAR:
        return 0.0
    return matcher.ratio()


def _phrase_score(phrase: list[str], words: list[str]) -> float:
    """How well a name/alias (a list of words) is covered by the text's words, 0..1."""
    meaningful = [w for w in phrase if w not in _STOP] or phrase
    if not meaningful:
        return 0.0
    total = 0.0
    for token in meaningful:
        best = max((_similar(token, w) for w in words), default=0.0)
        total += best if best >= SIMILAR else 0.0
    return total / len(meaningful)


@dataclass(frozen=True)
class Match:
    service: Service
    score: float


@lru_cache(maxsize=8)
def _vocabulary(catalog: Catalog) -> list[tuple[Service, list[list[str]], list[list[str]]]]:
    """Each service's names and keywords as word lists, split once per catalog (not once per /incident)."""
    return [
        (service,
         [words(p) for p in (service.name, service.id.replace("-", " "), *service.aliases)],
         [words(k) for k in service.keywords])
        for service in catalog.services.values()
    ]


def rank(catalog: Catalog, text: str, limit: int = 5) -> list[Match]:
    said = words(text)
    if not said:
        return []
    matches = []
    for service, names, keywords in _vocabulary(catalog):
        score = max(_phrase_score(p, said) for p in names)
        # Keywords hint at a service without naming it: they count, a little less than a name.
        score = max([score, *(0.9 * _phrase_score(k, said) for k in keywords)])
        if score >= 0.5:
            matches.append(Match(service, round(score, 3)))
    matches.sort(key=lambda m: (-m.score, m.service.name))
    return matches[:limit]


def route(catalog: Catalog, text: str) -> Service | None:
    """The one service the text clearly names, or None when it names none or several."""
    matches = rank(catalog, text)
    if not matches or matches[0].score < 0.8:
        return None
    if len(matches) > 1 and matches[1].score >= matches[0].score - 0.1:
        return None
    return matches[0].service


def search(catalog: Catalog, text: str, limit: int = 100) -> list[Service]:
    """For the type-ahead menu: ranked matches, then services whose name starts with the text."""
    ranked = [m.service for m in rank(catalog, text, limit)]
    needle = text.strip().lower()
    prefix = [s for s in catalog.services.values() if needle and s.name.lower().startswith(needle) and s not in ranked]
    contains = [s for s in catalog.services.values() if needle and needle in s.name.lower() and s not in ranked and s not in prefix]
    return (ranked + prefix + contains)[:limit]
