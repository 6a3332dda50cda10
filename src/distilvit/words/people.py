"""Context for descriptor words: does a word describe a person, or a thing?

Most race, nationality, age and appearance words are also colours or everyday adjectives:
"black dog", "white shirt", "old building", "young tree", "French fries", "tall tower". Listing
every non-person context cannot be done; the person contexts are few. So a *contextual* term
counts only when a person noun follows it, possibly after other descriptors ("a young black
man", "an elderly Asian woman"). `unless_before_people` builds the lexicon exclusion that
shields the word everywhere else; the de-biasing rules use the same lookahead.
"""

from __future__ import annotations

import re

# Nouns that name people (singular and plural listed: plurals are not derived).
PERSON_NOUNS = frozenset("""
person persons people man men woman women boy boys girl girls child children kid kids guy guys
lady ladies gentleman gentlemen couple couples family families individual individuals adult
adults teen teens teenager teenagers toddler toddlers baby babies infant infants youth youths
student students worker workers player players tourist tourists traveler travelers traveller
travellers friend friends crowd crowds group groups audience customer customers passenger
passengers pedestrian pedestrians male males female females mother mothers father fathers
parent parents son sons daughter daughters grandmother grandmothers grandfather grandfathers
grandparent grandparents athlete athletes dancer dancers musician musicians soldier soldiers
officer officers doctor doctors nurse nurses farmer farmers vendor vendors bride brides groom
grooms husband husbands wife wives boyfriend boyfriends girlfriend girlfriends citizen citizens
resident residents elder elders patient patients shopper shoppers spectator spectators fan fans
surfer surfers skier skiers rider riders cyclist cyclists runner runners chef chefs cook cooks
artist artists performer performers model models team teams community communities neighbor
neighbors neighbour neighbours local locals villager villagers protester protesters
""".split())

# Descriptors that may stand between a contextual term and its person noun.
MODIFIERS = frozenset("""
young younger old older elderly little small tall short big large thin slim fat black white
brown asian african hispanic latino latina caucasian arab indian chinese japanese korean
american european mexican muslim jewish christian hindu buddhist sikh gay lesbian straight
blind deaf disabled beautiful pretty handsome smiling happy sad bearded blonde blond bald
middle aged teenage senior adult male female skinny overweight muscular pregnant native dark
light skinned haired curly long
""".split())


def _alternation(words: frozenset[str] | list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# A run of descriptors, then a person noun (whole words; hyphens and "and"/"," join words).
PEOPLE_AHEAD = (rf"(?:[\s,-]+(?:and\s+)?(?:{_alternation(MODIFIERS)}))*"
                rf"[\s-]+(?:{_alternation(PERSON_NOUNS)})\b")


def unless_before_people(*words: str) -> str:
    """An exclusion pattern that shields each of `words` unless a person noun follows it."""
    body = "|".join(r"[\s-]+".join(map(re.escape, w.split())) for w in words)
    return rf"\b(?:{body})\b(?!{PEOPLE_AHEAD})"


def before_people(word_pattern: str) -> re.Pattern[str]:
    """`word_pattern` (a regex) where it describes people: a person noun follows it."""
    return re.compile(rf"\b(?:{word_pattern})\b(?={PEOPLE_AHEAD})", re.IGNORECASE)
