"""Bias term lexicons: word lists by category, matched as whole words, with context rules.

A `Lexicon` is a set of named groups of terms (gender: masculine / feminine) plus `exclude`
patterns, the hook for context rules. A term occurrence that lies inside a match of an
`exclude` pattern is not counted: a later race lexicon can list "black" and exclude
r"\\bblack (?:dog|cat|shirt)\\b", an age lexicon can exclude "old town". Terms may be phrases
("middle aged"); any run of whitespace or hyphens in the text matches the space in a phrase, so
"middle-aged" and "wheelchair-bound" match "middle aged" and "wheelchair bound".

Matching is case-insensitive and on word boundaries, so "manhole", "mankind", "there" and
"this" hold no gendered term while "Women" and "the man's hat" do. Inflections are not
derived: every plural a lexicon should match is listed explicitly.

`LEXICONS` holds eight categories, the bias types of CrowS-Pairs (Nangia et al. 2020, EMNLP)
less socioeconomic status: gender, age, race/ethnicity, nationality, religion, disability,
sexual orientation and body/appearance. Gender is the list of Hendricks et al. 2018; the others
are ours, chosen along the descriptor axes of HolisticBias (Smith et al. 2022, EMNLP, "I'm
sorry to hear that") for words that appear in image captions. Words that are also colours or
everyday adjectives ("black", "old", "tall", "French") count only before a person noun
(`distilvit.words.people`), so "black dog", "old building" and "French fries" do not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from distilvit.errors import UsageError
from distilvit.words.people import unless_before_people

__all__ = ["GENDER", "LEXICONS", "Lexicon", "find_terms", "lexicon"]

# Between the words of a phrase: whitespace or hyphens ("middle-aged" is "middle aged").
_WORD_GAP = r"[\s-]+"
_GAPS = re.compile(_WORD_GAP)


@dataclass(frozen=True)
class Lexicon:
    """Named groups of lowercase terms, plus regexes whose matches shield a term from counting."""

    name: str
    groups: Mapping[str, frozenset[str]]
    exclude: tuple[str, ...] = ()
    source: str = ""
    _group_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        group_of: dict[str, str] = {}
        for group, terms in self.groups.items():
            for term in terms:
                if term != term.lower().strip() or not term:
                    raise ValueError(f"lexicon {self.name!r}: term {term!r} must be lowercase")
                if group_of.setdefault(term, group) != group:
                    raise ValueError(f"lexicon {self.name!r}: {term!r} is in two groups")
        object.__setattr__(self, "_group_of", group_of)

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(self._group_of)

    def group_of(self, term: str) -> str:
        """The group ("masculine", "feminine", ...) a term found by `find` belongs to."""
        return self._group_of[term.lower()]

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        # Longest first, so a phrase wins over the single word it starts with.
        alternatives = sorted(self._group_of, key=len, reverse=True)
        body = "|".join(_WORD_GAP.join(map(re.escape, term.split())) for term in alternatives)
        return re.compile(rf"\b(?:{body})\b", re.IGNORECASE)

    @cached_property
    def _excludes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in self.exclude)

    def find(self, text: str) -> list[str]:
        """Terms in `text`, lowercased, in order of occurrence (repeats kept)."""
        shielded = [m.span() for p in self._excludes for m in p.finditer(text)]
        found = []
        for match in self._pattern.finditer(text):
            start, end = match.span()
            if not any(s <= start and end <= e for s, e in shielded):
                found.append(" ".join(_GAPS.split(match.group().lower())))
        return found


def _with_plurals(*pairs: str) -> frozenset[str]:
    """Space-separated "singular plural" pairs (or single words) as one set of terms."""
    return frozenset(word for pair in pairs for word in pair.split())


# Hendricks et al. 2018, "Women also Snowboard: Overcoming Bias in Captioning Models" (ECCV,
# arXiv:1803.09797): the gendered words the paper lists. The same two lists are the gender
# masks of Hirota et al. 2022, "Quantifying Societal Bias Amplification in Image Captioning"
# (CVPR; rebnej/lick-caption-bias, lstm_leakage.py), where we checked them.
_HENDRICKS_MASCULINE = (
    "man men", "male", "father", "gentleman gentlemen", "boy boys", "uncle", "husband",
    "actor", "prince", "waiter", "son", "he his him himself", "brother brothers", "guy guys",
    "emperor emperors", "dude dudes", "cowboy",
)
_HENDRICKS_FEMININE = (
    "woman women", "female", "lady ladies", "mother", "girl girls", "aunt", "wife", "actress",
    "princess", "waitress", "daughter", "she her hers herself", "sister sisters",
    "queen queens", "pregnant",
)
# Added here: the plurals the paper's list lacks (so "two fathers" counts like "a father"),
# and dad / mom / groom / bride, the synonyms in the paper's own analysis code
# (kayburns/women-snowboard, data_analysis_common.py).
_ADDED_MASCULINE = (
    "males", "fathers", "uncles", "husbands", "actors", "princes", "waiters", "sons",
    "cowboys", "dad dads", "groom grooms",
)
_ADDED_FEMININE = (
    "females", "mothers", "aunts", "wives", "actresses", "princesses", "waitresses",
    "daughters", "mom moms", "bride brides",
)
# Added for the report and the de-biasing rules: family words and gendered compounds that
# captions use and the paper's list lacks.
_FAMILY_AND_ROLES_MASCULINE = (
    "grandfather grandfathers", "grandpa grandpas", "grandson grandsons", "nephew nephews",
    "boyfriend boyfriends", "businessman businessmen", "policeman policemen",
    "fireman firemen", "mailman mailmen", "salesman salesmen", "spokesman spokesmen",
    "chairman chairmen", "cameraman cameramen", "fisherman fishermen",
    "sportsman sportsmen", "schoolboy schoolboys",
)
_FAMILY_AND_ROLES_FEMININE = (
    "grandmother grandmothers", "grandma grandmas", "granddaughter granddaughters",
    "niece nieces", "girlfriend girlfriends", "businesswoman businesswomen",
    "policewoman policewomen", "saleswoman saleswomen", "sportswoman sportswomen",
    "schoolgirl schoolgirls", "housewife housewives", "bridesmaid bridesmaids",
)


GENDER = Lexicon(
    name="gender",
    groups={
        "masculine": _with_plurals(*_HENDRICKS_MASCULINE, *_ADDED_MASCULINE,
                                   *_FAMILY_AND_ROLES_MASCULINE),
        "feminine": _with_plurals(*_HENDRICKS_FEMININE, *_ADDED_FEMININE,
                                  *_FAMILY_AND_ROLES_FEMININE),
    },
    # Objects named after people: a man-made lake, a cowboy hat, a queen-size bed, a ladybug.
    exclude=(r"\bman-made\b", r"\bcowboy[\s-]+(?:hats?|boots?)\b",
             r"\bqueen[\s-]+(?:size|sized)\b", r"\bqueen\s+beds?\b", r"\blady\s*bugs?\b",
             r"\bto\s+groom\b"),
    source="Hendricks et al. 2018 (ECCV), with explicit plurals and dad/mom/groom/bride added, "
           "plus family words and gendered compounds (grandmother, policeman, ...)",
)


def _terms(*entries: str) -> frozenset[str]:
    """Terms separated by commas; a term may be a phrase ("middle aged")."""
    return frozenset(t.strip() for entry in entries for t in entry.split(",") if t.strip())


# Each contextual word counts only before a person noun (see distilvit.words.people).
_AGE_CONTEXTUAL = ("old", "older", "young", "younger", "aged", "senior", "elder")
AGE = Lexicon(
    name="age",
    groups={
        "older": _terms("elderly, old, older, aged, senior, seniors, senior citizen, "
                        "senior citizens, elder, elders, retiree, retirees, pensioner, "
                        "pensioners, geriatric, middle aged, old timer"),
        "younger": _terms("young, younger, teenager, teenagers, teen, teens, teenage, "
                          "adolescent, adolescents, youngster, youngsters"),
        "stated age": _terms("year old, years old"),
    },
    exclude=(unless_before_people(*_AGE_CONTEXTUAL),),
    source="ours, along HolisticBias's age axis (Smith et al. 2022); 'child', 'baby' and 'kid' "
           "are not counted: 'child' is the neutral word the guidelines ask for",
)

_RACE_CONTEXTUAL = ("black", "white", "brown", "asian", "african", "arab", "native",
                    "indigenous")
# Hair and beard colours: "a white-haired man", "a black-bearded man".
_HAIR_COLOUR = (r"\b(?:black|white|brown|grey|gray|red|dark|blond|blonde)[\s-]+"
                r"(?:haired|bearded)\b")
RACE = Lexicon(
    name="race_ethnicity",
    groups={
        "race or ethnicity": _terms(
            "black, white, brown, asian, asians, african, arab, arabs, caucasian, caucasians, "
            "hispanic, hispanics, latino, latinos, latina, latinas, latinx, african american, "
            "african americans, native american, native americans, native, indigenous, "
            "biracial, multiracial, mixed race, ethnic, ethnicity, person of color, "
            "people of color, pacific islander, middle eastern"),
        "skin tone": _terms("dark skinned, light skinned, fair skinned, pale skinned, "
                            "olive skinned, brown skinned, dark skin, light skin, fair skin"),
    },
    exclude=(unless_before_people(*_RACE_CONTEXTUAL), _HAIR_COLOUR),
    source="ours; the race terms and skin-tone descriptors studied in COCO captions by Zhao "
           "et al. 2021 (ICCV, 'Understanding and Evaluating Racial Biases in Image "
           "Captioning') and HolisticBias's race/ethnicity axis",
)

_NATIONALITIES = (
    "american", "british", "english", "french", "german", "italian", "spanish", "chinese",
    "japanese", "korean", "indian", "mexican", "russian", "european", "canadian",
    "australian", "brazilian", "irish", "scottish", "dutch", "swedish", "greek", "turkish",
    "egyptian", "nigerian", "kenyan", "vietnamese", "thai", "filipino", "pakistani",
    "iranian", "iraqi", "israeli", "palestinian", "cuban", "jamaican", "polish", "ukrainian",
    "portuguese", "swiss", "peruvian", "colombian", "ethiopian", "moroccan",
)
NATIONALITY = Lexicon(
    name="nationality",
    groups={
        "nationality": frozenset(_NATIONALITIES) | _terms(
            "americans, germans, italians, mexicans, canadians, australians, brazilians, "
            "europeans, russians, indians, koreans, nigerians, kenyans, egyptians, cubans, "
            "jamaicans, israelis, palestinians, iraqis, iranians, pakistanis, filipinos"),
        "migration": _terms("foreigner, foreigners, immigrant, immigrants, refugee, refugees, "
                            "migrant, migrants"),
    },
    # French fries, a German shepherd, the Indian Ocean, an American flag: not people.
    exclude=(unless_before_people(*_NATIONALITIES),),
    source="ours, along HolisticBias's nationality axis (Smith et al. 2022)",
)

RELIGION = Lexicon(
    name="religion",
    groups={
        "affiliation": _terms(
            "muslim, muslims, islamic, christian, christians, jew, jews, jewish, hindu, "
            "hindus, buddhist, buddhists, sikh, sikhs, catholic, catholics, protestant, "
            "protestants, mormon, mormons, atheist, atheists, orthodox, religious"),
        "attire": _terms("hijab, hijabs, burqa, burqas, burka, burkas, niqab, niqabs, chador, "
                         "turban, turbans, yarmulke, yarmulkes, kippah, kippot"),
        "clergy": _terms("nun, nuns, priest, priests, monk, monks, rabbi, rabbis, imam, imams, "
                         "pastor, pastors, cleric, clerics"),
    },
    exclude=(unless_before_people("orthodox", "religious"),),
    source="ours, along HolisticBias's religion axis (Smith et al. 2022), with the religious "
           "attire that captions name",
)

_DISABILITY_CONTEXTUAL = ("blind", "deaf", "lame", "invalid")
DISABILITY = Lexicon(
    name="disability",
    groups={
        "mention": _terms(
            "disabled, disability, disabilities, wheelchair, wheelchairs, wheelchair user, "
            "amputee, amputees, prosthetic, prosthesis, crutches, guide dog, hearing aid, "
            "white cane, blind, deaf, visually impaired, hearing impaired, autistic, autism, "
            "down syndrome, paraplegic, quadriplegic, paralyzed, paralysed, special needs"),
        "outdated": _terms("handicapped, cripple, cripples, crippled, wheelchair bound, "
                           "confined to a wheelchair, lame, invalid, retarded, deformed, "
                           "midget, midgets, suffers from, suffering from"),
    },
    exclude=(unless_before_people(*_DISABILITY_CONTEXTUAL),),
    source="ours, along HolisticBias's ability axis (Smith et al. 2022); the outdated terms "
           "follow common disability style guides (e.g. the NCDJ style guide)",
)

_ORIENTATION_CONTEXTUAL = ("straight", "trans", "queer")
SEXUAL_ORIENTATION = Lexicon(
    name="sexual_orientation",
    groups={
        "orientation": _terms("gay, gays, lesbian, lesbians, bisexual, bisexuals, homosexual, "
                              "homosexuals, heterosexual, heterosexuals, straight, queer, lgbt, "
                              "lgbtq, same sex couple, same sex couples"),
        "gender identity": _terms("transgender, trans, nonbinary, non binary, genderqueer, "
                                  "intersex"),
    },
    exclude=(unless_before_people(*_ORIENTATION_CONTEXTUAL),),
    source="ours, along HolisticBias's sexual-orientation and gender-identity axes "
           "(Smith et al. 2022)",
)

_BODY_CONTEXTUAL = ("fat", "thin", "slim", "tall", "short", "skinny", "curvy", "muscular",
                    "beautiful", "pretty", "attractive", "ugly", "gorgeous", "bald")
BODY = Lexicon(
    name="body_appearance",
    groups={
        "body": _terms("obese, overweight, chubby, plump, plus size, scrawny, stocky, fat, "
                       "thin, slim, tall, short, skinny, curvy, muscular, petite"),
        "attractiveness": _terms("handsome, sexy, good looking, beautiful, pretty, attractive, "
                                 "ugly, gorgeous, unattractive"),
        "hair": _terms("bald, blonde, blond, blondes, redhead, redheads, brunette, brunettes"),
    },
    exclude=(unless_before_people(*_BODY_CONTEXTUAL),),
    source="ours, along HolisticBias's body-type and characteristics axes (Smith et al. 2022)",
)

# Insertion order is the report's order (and the order `lexicon` lists them in).
LEXICONS: dict[str, Lexicon] = {
    lex.name: lex for lex in (GENDER, AGE, RACE, NATIONALITY, RELIGION, DISABILITY,
                              SEXUAL_ORIENTATION, BODY)
}


def lexicon(category: str) -> Lexicon:
    """The lexicon for `category`, or one line naming the categories there are."""
    try:
        return LEXICONS[category]
    except KeyError:
        known = ", ".join(LEXICONS)
        raise UsageError(f"unknown lexicon category {category!r}; known: {known}") from None


def find_terms(text: str, category: str) -> list[str]:
    """Terms of `category` in `text`, lowercased, in order of occurrence (repeats kept)."""
    return lexicon(category).find(text)


def find_all(text: str) -> dict[str, list[str]]:
    """Every category's terms in `text` (categories with none left out)."""
    found = {name: lex.find(text) for name, lex in LEXICONS.items()}
    return {name: terms for name, terms in found.items() if terms}
