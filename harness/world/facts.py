"""A seeded table of fictional countries and their attributes (the 'knowledge' behind the factual-lookup family)."""
from __future__ import annotations

import random

N_COUNTRIES = 48
ATTRIBUTES = ("capital", "currency", "official language", "national animal", "population", "founding year")

_ONSETS = ("v", "br", "t", "k", "m", "s", "d", "l", "r", "n", "z", "g", "p", "th", "qu", "f", "h", "c", "dr", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "io", "ou", "ei")
_COUNTRY_ENDS = ("ria", "land", "via", "stan", "mor", "dor", "nia", "tia", "vale", "mark")
_CITY_ENDS = ("ton", "burg", "moor", "ford", "haven", "polis", "gate", "wick", "port", "holm")
_CURRENCY_ENDS = ("crown", "mark", "dinar", "florin", "talon", "penny", "shell", "coin")
_ANIMALS = ("red fox", "snow owl", "river otter", "golden eagle", "grey wolf", "sea turtle", "mountain goat", "lynx",
            "white stag", "heron", "brown bear", "falcon", "wild boar", "swan", "badger", "salamander")
_REGIONS = ("northern", "southern", "eastern", "western", "central", "coastal", "island", "highland")


def _stem(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))


def _unique(rng: random.Random, seen: set[str], make) -> str:
    while True:
        name = make()
        if name not in seen:
            seen.add(name)
            return name


def fact_table(seed: int) -> list[dict]:
    """``N_COUNTRIES`` fictional countries: name, region and every attribute in ``ATTRIBUTES`` (as display text)."""
    rng = random.Random(f"{seed}:facts")
    seen: set[str] = set()
    table = []
    for _ in range(N_COUNTRIES):
        name = _unique(rng, seen, lambda: (_stem(rng, rng.choice((1, 2))) + rng.choice(_COUNTRY_ENDS)).capitalize())
        capital = _unique(rng, seen, lambda: (_stem(rng, rng.choice((1, 2))) + rng.choice(_CITY_ENDS)).capitalize())
        language = name[:-1] + "ish" if name[-1] in "aeiou" else name + "ese"
        table.append({
            "country": name,
            "region": rng.choice(_REGIONS),
            "capital": capital,
            "currency": f"the {_stem(rng, 1)}{rng.choice(_CURRENCY_ENDS)}",
            "official language": language,
            "national animal": f"the {rng.choice(_ANIMALS)}",
            "population": f"{rng.randint(1, 95)} million",
            "founding year": str(rng.randint(900, 1950)),
        })
    return table


def fact_sheet(row: dict) -> str:
    """A short encyclopedia-style paragraph stating every fact about one country (pre-training text)."""
    c = row["country"]
    return (f"{c} is a {row['region']} country. The capital of {c} is {row['capital']}. The currency of {c} is "
            f"{row['currency']}, and its official language is {row['official language']}. The national animal of "
            f"{c} is {row['national animal']}. {c} was founded in {row['founding year']} and has a population of "
            f"{row['population']}.")
