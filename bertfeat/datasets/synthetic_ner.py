"""A synthetic named-entity set: person names (and some places) put into real sentences.

For examples and benchmarks of token classification: the sentences are yours (e.g. the
emotion tweets of the shared data; nothing is shipped), the names and places are the
hand-written lists below, split in two disjoint halves so that no name or place seen in
training appears at test time. Tags are IOB2 (``B-PER``, ``I-PER``, ``B-LOC``, ``I-LOC``,
``O``); names have one to three words.
"""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "Anna", "Bruno", "Clara", "David", "Elena", "Felix", "Grace", "Hugo", "Irene", "Jonas", "Karen", "Leo", "Maria",
    "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Simon", "Tessa", "Umar", "Vera", "Walter", "Yara", "Zoe", "Adam",
    "Bianca", "Carlos", "Diana", "Emil", "Fatima", "George", "Hannah", "Ivan", "Julia", "Kevin", "Laura", "Martin",
    "Nadia", "Omar", "Petra", "Rafael", "Sofia", "Thomas", "Ursula", "Victor", "Wanda", "Xavier", "Yusuf", "Amir",
    "Beatrice", "Conrad", "Dorothy", "Edgar", "Frida", "Gustav", "Helen", "Igor", "Jasmine", "Klaus", "Lucia",
    "Magnus", "Noah", "Olga", "Pedro", "Rebecca", "Stefan", "Tamara", "Vincent", "Wilma",
)
SURNAMES = (
    "Smith", "Garcia", "Muller", "Rossi", "Kowalski", "Nguyen", "Johansson", "Dubois", "Silva", "Novak", "Jensen",
    "Costa", "Weber", "Moreau", "Horvat", "Fischer", "Lindqvist", "Romano", "Santos", "Kaplan", "Ivanova", "Olsen",
    "Bauer", "Ferrari", "Lopez", "Schmidt", "Petrov", "Murphy", "Tanaka", "Kim", "Haddad", "Okafor", "Fernandes",
    "Larsen", "Moretti", "Wagner", "Dimitrov", "Byrne", "Sato", "Park", "Khalil", "Mensah", "Pereira", "Nielsen",
    "Bianchi", "Hoffmann", "Popescu", "Walsh", "Suzuki", "Choi", "Nasser", "Adeyemi", "Carvalho", "Berg", "Greco",
    "Keller", "Marin", "Doyle", "Ito", "Yilmaz",
)
PLACES = (
    "Paris", "Lisbon", "Berlin", "Madrid", "Vienna", "Prague", "Dublin", "Oslo", "Helsinki", "Warsaw", "Athens",
    "Rome", "Cairo", "Nairobi", "Lagos", "Tokyo", "Seoul", "Bangkok", "Lima", "Bogota", "Toronto", "Chicago",
    "Denver", "Seattle", "Boston", "Glasgow", "Leeds", "Lyon", "Munich", "Hamburg", "Porto", "Seville", "Krakow",
    "Budapest", "Zagreb", "Cape Town", "New Delhi", "Buenos Aires", "Hong Kong", "Rio de Janeiro",
    "San Diego", "Mexico City", "Tel Aviv", "Kuala Lumpur", "Sao Paulo", "Las Vegas", "Abu Dhabi",
)
# Carriers: where a name or place goes in (the sentence's own words go around them).
PERSON_CARRIERS = ("{}", "{}", "with {}", "{} said", "told {}", "and {}", "{} and i", "according to {}", "my friend {}")
PLACE_CARRIERS = ("in {}", "from {}", "near {}", "to {}", "{}")


def _halves(items: tuple, rng: np.random.Generator) -> tuple[list, list]:
    order = rng.permutation(len(items))
    cut = len(items) // 2
    return [items[i] for i in order[:cut]], [items[i] for i in order[cut:]]


def _person(first: list, last: list, rng: np.random.Generator) -> list[str]:
    shape = rng.random()
    if shape < 0.3:
        return [first[rng.integers(len(first))]]
    if shape < 0.9:
        return [first[rng.integers(len(first))], last[rng.integers(len(last))]]
    return [first[rng.integers(len(first))], last[rng.integers(len(last))], last[rng.integers(len(last))]]


def _insert(words: list[str], tags: list[str], carrier: str, entity: list[str], kind: str, rng) -> None:
    """Put ``carrier`` (holding the entity) at a random word boundary, in place."""
    before, _, after = carrier.partition("{}")
    new_words = before.split() + entity + after.split()
    new_tags = ["O"] * len(before.split()) + [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1) + ["O"] * len(after.split())
    at = int(rng.integers(len(words) + 1))
    # never inside another entity: move to the nearest boundary after it
    while at < len(tags) and tags[at].startswith("I-"):
        at += 1
    words[at:at] = new_words
    tags[at:at] = new_tags


def _sentences(texts: list[str], n: int, first: list, last: list, places: list, rng) -> tuple[list, list]:
    picked = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    X, y = [], []
    for i in picked:
        words = texts[i].split()
        tags = ["O"] * len(words)
        for _ in range(1 + int(rng.random() < 0.3)):  # one person, sometimes two
            _insert(words, tags, PERSON_CARRIERS[rng.integers(len(PERSON_CARRIERS))], _person(first, last, rng), "PER", rng)
        if rng.random() < 0.4:
            place = places[rng.integers(len(places))].split()
            _insert(words, tags, PLACE_CARRIERS[rng.integers(len(PLACE_CARRIERS))], place, "LOC", rng)
        X.append(words)
        y.append(tags)
    return X, y


def synthetic_ner(train_texts, test_texts, *, n_train: int = 600, n_test: int = 200, random_state: int = 0):
    """Sentences of words with person names and places put in, and their IOB2 tags.

    Parameters
    ----------
    train_texts, test_texts : list of str
        Real sentences to put the entities into (split on whitespace); keep them disjoint.
    n_train, n_test : int
        Sentences drawn (without replacement) from each list.
    random_state : int
        Seeds the halves of the name lists, the sentences drawn and the insertions.

    Returns
    -------
    X_train, y_train, X_test, y_test : lists of lists of str
        Every person and place in the test sentences comes from the halves of the lists
        the training sentences never use.
    """
    rng = np.random.default_rng(random_state)
    first_train, first_test = _halves(FIRST_NAMES, rng)
    last_train, last_test = _halves(SURNAMES, rng)
    places_train, places_test = _halves(PLACES, rng)
    X_train, y_train = _sentences([t for t in train_texts if t.split()], n_train, first_train, last_train, places_train, rng)
    X_test, y_test = _sentences([t for t in test_texts if t.split()], n_test, first_test, last_test, places_test, rng)
    return X_train, y_train, X_test, y_test
