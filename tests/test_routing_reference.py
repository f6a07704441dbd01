"""Routing's index against the rule it documents, scored here the slow, obvious way (hypothesis).

The reference below knows nothing of the index: it folds and splits words itself, measures how alike
two words are with a longest-common-subsequence table, and scores every phrase of every service
against every word of the text. On random catalogs and texts (catalog words with typos, other
case and punctuation, stop words, noise) the index must give the same ranking, scores, pick and
type-ahead list.
"""

from __future__ import annotations

import re
import time
import unicodedata
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import routing
from app.catalog import Service
from app.text import name_key

# -- the rule, by brute force ---------------------------------------------------------------------------

STOP = routing.STOP_WORDS  # data, not logic: the rule names these words


def fold(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.findall(r"[a-z0-9]+", plain)


def common_subsequence(a: str, b: str) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def alike(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) < 4 or len(b) < 4:
        return 0.0
    total = len(a) + len(b)
    dropped = total - 2 * common_subsequence(a, b)
    return 1 - dropped / total if 5 * dropped <= total else 0.0


def phrase_score(phrase: str, said: list[str]) -> float:
    found = fold(phrase)
    counted = [w for w in found if w not in STOP] or found
    if not counted:
        return 0.0
    total = 0.0
    for word in counted:
        total += max((alike(word, s) for s in said), default=0.0)
    return total / len(counted)


def reference_rank(services: list[Service], text: str, limit: int) -> list[tuple[str, float]]:
    said = fold(text)
    if not said:
        return []
    scored = []
    for service in services:
        names = [service.name, service.id.replace("-", " "), *service.aliases]
        score = max(phrase_score(p, said) for p in names)
        score = max([score, *(0.9 * phrase_score(k, said) for k in service.keywords)])
        if score >= 0.5:
            scored.append((service, round(score, 3)))
    scored.sort(key=lambda pair: (-pair[1], pair[0].name))
    return [(s.id, score) for s, score in scored[:limit]]


def reference_route(services: list[Service], text: str) -> str | None:
    ranked = reference_rank(services, text, 5)
    if not ranked or ranked[0][1] < 0.8 or (len(ranked) > 1 and ranked[1][1] >= ranked[0][1] - 0.1):
        return None
    return ranked[0][0]


def reference_search(services: list[Service], text: str, limit: int) -> list[str]:
    ranked = [sid for sid, _ in reference_rank(services, text, limit)]
    needle = text.strip().lower()
    prefix = [s.id for s in services if needle and s.name.lower().startswith(needle) and s.id not in ranked]
    contains = [s.id for s in services if needle and needle in s.name.lower() and s.id not in ranked and s.id not in prefix]
    return (ranked + prefix + contains)[:limit]


# -- random catalogs and what people type --------------------------------------------------------------

VOCABULARY = ["bank", "transfers", "card", "payments", "ledger", "login", "sign", "signup", "search", "notifications",
              "export", "exports", "mobile", "app", "api", "public", "partner", "balance", "balances", "checkout",
              "payouts", "wire", "sepa", "identity", "webhooks", "web", "site", "website", "push", "email", "sms",
              "internal", "tools", "admin", "report", "reports", "data", "cards", "the", "down", "of", "service",
              "2fa", "kyc", "café", "Zürich", "o'clock", "log-in", "pay", "pays", "payment", "transfer", "signin",
              "signing", "notify", "account", "accounts", "accounting", "statement", "statements", "onboarding"]

word = st.sampled_from(VOCABULARY)
phrase = st.lists(word, min_size=1, max_size=3).map(" ".join)


def with_typo(spec: tuple[str, int, str, str]) -> str:
    """A letter dropped, added, swapped with the next or changed, somewhere in the text (or none)."""
    text, at, kind, letter = spec
    if len(text) < 2:
        return text
    at %= len(text) - 1
    return {"drop": text[:at] + text[at + 1:], "add": text[:at] + letter + text[at:],
            "swap": text[:at] + text[at + 1] + text[at] + text[at + 2:], "change": text[:at] + letter + text[at + 1:],
            "none": text}[kind]


typed_word = st.tuples(word, st.integers(0, 20), st.sampled_from(["drop", "add", "swap", "change", "none"]),
                       st.sampled_from("aeiourstnx")).map(with_typo)
ID_TAILS = ["a", "b-c", "x_y", "pay"]


def services_of(specs: list[tuple[str, int, list[str], list[str]]]) -> list[Service]:
    services: list[Service] = []
    names: set[str] = set()
    for index, (name, tail, aliases, keywords) in enumerate(specs):
        if name_key(name) in names:  # the catalog check refuses two services of one name
            continue
        names.add(name_key(name))
        services.append(Service(id=f"svc-{index}-{ID_TAILS[tail]}", name=name, aliases=aliases, keywords=keywords, owner="core"))
    return services


catalogs = st.lists(st.tuples(phrase.map(str.capitalize), st.integers(0, len(ID_TAILS) - 1), st.lists(phrase, max_size=3),
                              st.lists(phrase, max_size=2)), min_size=1, max_size=12).map(services_of)
said = st.tuples(st.lists(st.one_of(word, typed_word, st.text(max_size=8), st.sampled_from(["!!", "-", "&", "INC-4", "   "])),
                          max_size=6),
                 st.sampled_from([" ", "  ", ", ", "/"]), st.sampled_from([str, str.upper, str.title])
                 ).map(lambda parts: parts[2](parts[1].join(parts[0])))


def index_of(services: list[Service]) -> routing.RoutingIndex:
    return routing.RoutingIndex(SimpleNamespace(services={s.id: s for s in services}))  # type: ignore[arg-type]


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(services=catalogs, text=said)
def test_the_index_ranks_and_picks_as_the_rule_says(services: list[Service], text: str) -> None:
    index = index_of(services)
    for limit in (5, 100):
        assert [(m.service.id, m.score) for m in index.rank(text, limit)] == reference_rank(services, text, limit)
    picked = index.route(text)
    assert (picked.id if picked else None) == reference_route(services, text)


@FAST
@given(services=catalogs, typed=st.one_of(word, typed_word, phrase, st.text(max_size=4)).map(lambda t: t[:6]),
       limit=st.sampled_from([1, 3, 100]))
def test_the_type_ahead_lists_what_the_rule_says(services: list[Service], typed: str, limit: int) -> None:
    assert [s.id for s in index_of(services).search(typed, limit)] == reference_search(services, typed, limit)


def test_the_typo_pass_finds_every_catalog_word_alike_enough_and_no_other() -> None:
    """Every vocabulary word and every one-letter slip of it, against every word of the catalog: the typo pass is complete."""
    vocabulary = sorted({w for v in VOCABULARY for w in fold(v)})
    index = index_of([Service(id=f"s{i}", name=w, owner="core") for i, w in enumerate(vocabulary)])
    slips = {w[:at] + change + w[at + cut:] for w in vocabulary for at in range(len(w) + 1)
             for change, cut in (("", 1), ("e", 0), ("s", 1), (w[at + 1: at + 2] + w[at: at + 1], 2))}
    for typed in sorted(slips | set(vocabulary) | {"signup", "sign", "transfers", "trans"}):
        expected = {w: alike(w, typed) for w in vocabulary if alike(w, typed) > 0}
        assert index.near(typed) == expected, typed


def test_what_people_type_about_the_example_services() -> None:
    services = [
        Service(id="bank-transfers", name="Bank transfers", aliases=["payments", "transfers", "payouts"], keywords=["iban"], owner="p"),
        Service(id="card-payments", name="Card payments", aliases=["cards", "card"], keywords=["declined"], owner="p"),
        Service(id="login", name="Login", aliases=["log in", "sign in"], owner="i"),
    ]
    for text in ["bank tranfsers down", "bank transfers failing", "Can't LOG IN!!", "card payments and bank transfers",
                 "iban rejected", "declned", "payouts", "nothing we know"]:
        assert [(m.service.id, m.score) for m in index_of(services).rank(text)] == reference_rank(services, text, 5)
    assert index_of(services).route("bank tranfsers down").id == "bank-transfers"


def test_two_thousand_services_answer_in_well_under_a_millisecond_and_the_type_ahead_is_not_quadratic() -> None:
    services = [Service(id=f"svc-{n}", name=f"Service {n}", aliases=[f"alias-{n}", f"thing {n}"], keywords=[f"kw{n}"], owner="t")
                for n in range(2000)]
    index = index_of(services)
    assert index.route("service 1234 failing").id == "svc-1234"
    assert [s.id for s in index.search("s")][:3] == ["svc-0", "svc-1", "svc-2"]  # every name starts with it
    texts = ["service 1234 failing", "alias-12 is down", "bank tranfsers down", "thing 77", "servic"]
    for text in texts:
        index.rank(text, 100)  # the words' typo pass, once
    started = time.perf_counter()
    for _ in range(20):
        for text in texts:
            index.route(text)
            index.search(text)
    per_call = (time.perf_counter() - started) / (20 * len(texts) * 2)
    assert per_call < 0.005, f"{per_call * 1000:.2f} ms a call"  # ~0.05 ms on a quiet machine; generous for shared CI cores
