"""The offline de-biasing backend: caption rewrite rules (docs/fighting_bias.md).

The rules, in order:
1. protect object names that contain gendered words (the gender lexicon's exclusions:
   "man-made", "cowboy hat", "queen-size bed", "to groom");
2. rewrite pairs first ("a man and a woman" -> "two people", "bride and groom" -> "a couple");
3. drop descriptors of race, ethnicity, skin tone, nationality, religion, sexual orientation and
   attractiveness where they describe a person ("a young Black man" -> "a young man"), never
   elsewhere ("a black dog", "French fries", "a black and white photo");
4. neutral words for religious attire and outdated disability terms;
5. gendered nouns to neutral ones (man -> person, boys -> children, a boy's bike -> a child's
   bike) and pronouns (his/her -> their, him -> them, he/she -> the person);
6. one simple sentence: boilerplate openers dropped ("The image shows ..."), first sentence,
   capital letter, final period.
Every edit leaves a marker so "a"/"an" can be fixed where a word changed ("an Asian man" ->
"a person"), and only there.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from distilvit.quality.vocabulary import article
from distilvit.words.lexicons import GENDER
from distilvit.words.people import PERSON_NOUNS, before_people

MARK = "\x00"  # an edit point (for article repair); removed before returning

NOUNS = {
    "man": "person", "men": "people", "woman": "person", "women": "people",
    "boy": "child", "boys": "children", "girl": "child", "girls": "children",
    "guy": "person", "guys": "people", "lady": "person", "ladies": "people",
    "gentleman": "person", "gentlemen": "people", "dude": "person", "dudes": "people",
    "father": "parent", "fathers": "parents", "mother": "parent", "mothers": "parents",
    "dad": "parent", "dads": "parents", "mom": "parent", "moms": "parents",
    "son": "child", "sons": "children", "daughter": "child", "daughters": "children",
    "brother": "sibling", "brothers": "siblings", "sister": "sibling", "sisters": "siblings",
    "uncle": "relative", "uncles": "relatives", "aunt": "relative", "aunts": "relatives",
    "nephew": "relative", "nephews": "relatives", "niece": "relative", "nieces": "relatives",
    "husband": "spouse", "husbands": "spouses", "wife": "spouse", "wives": "spouses",
    "boyfriend": "partner", "boyfriends": "partners", "girlfriend": "partner",
    "girlfriends": "partners", "grandfather": "grandparent", "grandfathers": "grandparents",
    "grandmother": "grandparent", "grandmothers": "grandparents", "grandpa": "grandparent",
    "grandpas": "grandparents", "grandma": "grandparent", "grandmas": "grandparents",
    "grandson": "grandchild", "grandsons": "grandchildren", "granddaughter": "grandchild",
    "granddaughters": "grandchildren", "actress": "actor", "actresses": "actors",
    "waiter": "server", "waiters": "servers", "waitress": "server", "waitresses": "servers",
    "prince": "royal", "princes": "royals", "princess": "royal", "princesses": "royals",
    "queen": "monarch", "queens": "monarchs", "emperor": "ruler", "emperors": "rulers",
    "cowboy": "rider", "cowboys": "riders", "bride": "newlywed", "brides": "newlyweds",
    "groom": "newlywed", "grooms": "newlyweds", "bridesmaid": "attendant",
    "bridesmaids": "attendants", "businessman": "businessperson",
    "businessmen": "businesspeople", "businesswoman": "businessperson",
    "businesswomen": "businesspeople", "policeman": "police officer",
    "policemen": "police officers", "policewoman": "police officer",
    "policewomen": "police officers", "fireman": "firefighter", "firemen": "firefighters",
    "mailman": "mail carrier", "mailmen": "mail carriers", "salesman": "salesperson",
    "salesmen": "salespeople", "saleswoman": "salesperson", "spokesman": "spokesperson",
    "spokesmen": "spokespeople", "chairman": "chairperson", "chairmen": "chairpeople",
    "cameraman": "camera operator", "cameramen": "camera operators", "fisherman": "fisher",
    "fishermen": "fishers", "sportsman": "athlete", "sportsmen": "athletes",
    "sportswoman": "athlete", "sportswomen": "athletes", "schoolboy": "student",
    "schoolboys": "students", "schoolgirl": "student", "schoolgirls": "students",
    "housewife": "homemaker", "housewives": "homemakers", "males": "people",
    "females": "people",
}

# Descriptors dropped where they describe a person.
MARKERS = (
    "african[\\s-]+american|native[\\s-]+american|black|white|brown|asian|african|arab|"
    "caucasian|hispanic|latino|latina|latinx|indigenous|native|biracial|multiracial|"
    "mixed[\\s-]+race|ethnic|middle[\\s-]+eastern|(?:dark|light|fair|pale|olive|brown)"
    "[\\s-]+skinned|american|british|english|french|german|italian|spanish|chinese|japanese|"
    "korean|indian|mexican|russian|european|canadian|australian|brazilian|irish|scottish|"
    "dutch|swedish|greek|turkish|egyptian|nigerian|kenyan|vietnamese|thai|filipino|"
    "pakistani|iranian|iraqi|israeli|palestinian|cuban|jamaican|polish|ukrainian|portuguese|"
    "swiss|foreign|immigrant|muslim|islamic|christian|jewish|hindu|buddhist|sikh|catholic|"
    "protestant|mormon|orthodox|religious|gay|lesbian|bisexual|homosexual|heterosexual|"
    "straight|queer|transgender|trans|beautiful|pretty|handsome|gorgeous|attractive|ugly|"
    "sexy|good[\\s-]+looking|unattractive|fat|obese|chubby|overweight|skinny|scrawny"
)
_MARKER_RUN = before_people(rf"(?:{MARKERS})(?:[\s,-]+(?:and\s+)?(?:{MARKERS}))*")
_WITH_SKIN = re.compile(r"\bwith\s+(?:dark|light|fair|pale|olive|brown|black|white)\s+skin"
                        r"(?:\s+tone)?\b", re.IGNORECASE)
_MARKER_NOUN = re.compile(r"\b(?:caucasian|hispanic|latino|latina|muslim|christian|jew|hindu|"
                          r"buddhist|sikh|catholic|lesbian|homosexual|immigrant|foreigner)\b",
                          re.IGNORECASE)
_MARKER_NOUNS = re.compile(r"\b(?:caucasians|hispanics|latinos|latinas|asians|muslims|"
                           r"christians|jews|hindus|buddhists|sikhs|catholics|gays|lesbians|"
                           r"homosexuals|immigrants|foreigners)\b", re.IGNORECASE)
_PERSON = "|".join(sorted(PERSON_NOUNS, key=len, reverse=True))

ATTIRE = {"hijab": "headscarf", "hijabs": "headscarves", "burqa": "full-body veil",
          "burqas": "full-body veils", "burka": "full-body veil", "burkas": "full-body veils",
          "niqab": "face veil", "niqabs": "face veils", "chador": "cloak",
          "yarmulke": "skullcap", "yarmulkes": "skullcaps", "kippah": "skullcap",
          "kippot": "skullcaps", "turban": "head wrap", "turbans": "head wraps"}

# Words after which "her" is an object ("gives her a ball", "next to her") and "his" stands
# alone; before anything else they are possessives ("her bag" -> "their bag").
_FUNCTION_WORDS = frozenset("""a an the and or but in on at to with from by for of as while near
into onto up down out off over under is are was were be been being this that these those
some its their his her two three while who which when where than then""".split())
_NEXT_WORD = re.compile(rf"[\s{MARK}]+([\w’']+)")  # edit markers are not words
_ACCESSIBLE = re.compile(r"\bhandicapped\s+(?=(?:parking|spot|space|sign|ramp|restroom|"
                         r"bathroom|toilet|stall|entrance|access|door)s?\b)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“])")
_OPENERS = re.compile(
    r"^(?:(?:in\s+)?(?:this|the)\s+(?:image|photo|photograph|picture)\s*,\s*|(?:this|the)\s+"
    r"(?:is\s+)?(?:an?\s+)?(?:image|photo|photograph|picture)\s+(?:of|shows|showing|depicts|"
    r"depicting|features|featuring|contains|displays)\s+)", re.IGNORECASE)


def cased(original: str, replacement: str) -> str:
    """`replacement` with the capitalisation of `original` (Man -> Person, MAN -> PERSON)."""
    if len(original) > 1 and original.isupper():
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def sentence_cased(match: re.Match[str], replacement: str) -> str:
    """Capitalised only where the sentence starts: "Muslim" mid-sentence is a proper adjective,
    and its replacement "person" is not."""
    before = match.string[:match.start()].rstrip(f" {MARK}")
    return cased(match.group(), replacement) if not before or before[-1] in ".!?" else replacement


def _sub(pattern: re.Pattern[str] | str, repl: Callable[[re.Match[str]], str] | str,
         text: str) -> str:
    if isinstance(pattern, str):
        pattern = re.compile(pattern, re.IGNORECASE)
    return pattern.sub(repl, text)


# ----- the rules --------------------------------------------------------------------------
def protect(text: str) -> tuple[str, list[str]]:
    """Hide the gender lexicon's excluded spans (object names) from every rule."""
    kept: list[str] = []

    def hide(match: re.Match[str]) -> str:
        kept.append(match.group())
        return f"\x01{len(kept) - 1}\x01"

    for pattern in GENDER.exclude:
        text = _sub(pattern, hide, text)
    return text, kept


def restore(text: str, kept: list[str]) -> str:
    return re.sub(r"\x01(\d+)\x01", lambda m: kept[int(m.group(1))], text)


def pairs(text: str) -> str:
    adult, young = "man|woman|guy|lady|gentleman", "boy|girl"
    for who, group in ((adult, "people"), (young, "children")):
        text = _sub(rf"\b(an?|the|one)\s+(?:{who})\s+and\s+(?:(?:an?|the|one)\s+)?(?:{who})\b",
                    lambda m, g=group: MARK + cased(m.group(1), f"two {g}"), text)
    text = _sub(r"\b(?:men|women|ladies|gentlemen|guys)\s+and\s+(?:men|women|ladies|gentlemen|"
                r"guys)\b", lambda m: MARK + cased(m.group(), "people"), text)
    text = _sub(r"\b(?:boys|girls)\s+and\s+(?:boys|girls)\b",
                lambda m: MARK + cased(m.group(), "children"), text)
    text = _sub(r"\b(?:(an?|the)\s+)?(?:bride\s+and\s+(?:the\s+)?groom|groom\s+and\s+(?:the\s+)?"
                r"bride|husband\s+and\s+(?:his\s+)?wife|wife\s+and\s+(?:her\s+)?husband)\b",
                lambda m: MARK + cased(m.group(), f"{(m.group(1) or 'a').lower()} couple"), text)
    return _sub(r"\b(?:men|women|ladies|boys|girls)['’]s?\s+(?=(?:rest)?rooms?\b|bathrooms?\b|"
                r"toilets?\b|clothing\b|clothes\b|section\b|department\b)", MARK, text)


def noun_use(match: re.Match[str]) -> bool:
    """Whether a word that is also an adjective stands as a noun here: nothing follows it,
    or a function word, or a verb-like word ("a Muslim praying", "a female walks")."""
    following = _NEXT_WORD.match(match.string, match.end())
    if following is None:
        return True
    word = following.group(1).lower()
    return word in _FUNCTION_WORDS or word.endswith("ing") or (
        word.endswith("s") and not word.endswith("ss"))


def _as_noun(replacement: str) -> Callable[[re.Match[str]], str]:
    def repl(match: re.Match[str]) -> str:
        if not noun_use(match):
            return match.group()
        return MARK + sentence_cased(match, replacement)
    return repl


def descriptors(text: str) -> str:
    text = _sub(_MARKER_RUN, MARK, text)
    text = _WITH_SKIN.sub(MARK, text)
    text = _MARKER_NOUN.sub(_as_noun("person"), text)
    text = _sub(r"\b(person|people)\s+of\s+colou?r\b", lambda m: MARK + m.group(1), text)
    return _MARKER_NOUNS.sub(lambda m: MARK + sentence_cased(m, "people"), text)


def attire_and_disability(text: str) -> str:
    text = _sub(r"\b(" + "|".join(ATTIRE) + r")\b",
                lambda m: MARK + cased(m.group(), ATTIRE[m.group().lower()]), text)
    text = _sub(rf"\bwheelchair[\s-]+bound\s+({_PERSON})\b", r"\1 using a wheelchair", text)
    text = _sub(r"\b(?:is\s+)?(?:wheelchair[\s-]+bound|confined\s+to\s+a\s+wheelchair)\b",
                lambda m: "uses a wheelchair" if m.group().lower().startswith("is")
                else "using a wheelchair", text)
    text = _sub(_ACCESSIBLE, lambda m: MARK + cased(m.group(), "accessible "), text)
    text = _sub(r"\b(?:handicapped|crippled)\b", lambda m: cased(m.group(), "disabled"), text)
    text = _sub(r"\bsuffering\s+from\b", "with", text)
    return _sub(r"\bsuffers\s+from\b", "has", text)


def gendered_words(text: str) -> str:
    text = _sub(before_people("male|female"), MARK, text)
    text = _sub(r"\b(?:male|female)\b", _as_noun("person"), text)
    text = _sub(r"\b(" + "|".join(sorted(NOUNS, key=len, reverse=True)) + r")\b(['’](?!s\b))?",
                _noun, text)
    return pronouns(text)


def _noun(match: re.Match[str]) -> str:
    word, plural_apostrophe = match.group(1), match.group(2)
    new = cased(word, NOUNS[word.lower()])
    if plural_apostrophe:  # boys' -> children's, girls' -> children's, sons' -> children's
        new += "'" if new.endswith("s") else "'s"
    return MARK + new


def pronouns(text: str) -> str:
    text = _sub(r"\b(?:he|she)['’]s\b", lambda m: MARK + cased(m.group(), "the person is"), text)
    text = _sub(r"\b(?:he|she)\b", lambda m: MARK + cased(m.group(), "the person"), text)
    text = _sub(r"\b(?:himself|herself)\b", lambda m: MARK + cased(m.group(), "themselves"), text)
    text = _sub(r"\bhim\b", lambda m: MARK + cased(m.group(), "them"), text)
    text = _sub(r"\bhers\b", lambda m: MARK + cased(m.group(), "theirs"), text)
    return _sub(r"\b(?:his|her)\b", _possessive, text)


def _possessive(match: re.Match[str]) -> str:
    following = _NEXT_WORD.match(match.string, match.end())
    word = following.group(1).lower() if following else ""
    standalone = not word or word in _FUNCTION_WORDS
    if match.group().lower() == "his":
        return MARK + cased(match.group(), "theirs" if standalone else "their")
    return MARK + cased(match.group(), "them" if standalone else "their")


def one_sentence(text: str) -> str:
    text = _OPENERS.sub("", text.strip())
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def tidy(text: str) -> str:
    """Articles fixed where a word changed, markers removed, spacing and case cleaned."""
    text = re.sub(rf"{MARK}\s+", MARK, text)  # a dropped word's trailing space
    text = re.sub(rf"\b([Aa]n?)(\s+){MARK}+([\w'’-]+)",
                  lambda m: cased(m.group(1), article(m.group(3))) + m.group(2) + m.group(3), text)
    text = text.replace(MARK, "")
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r",\s*,", ",", text).strip(" ,")
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text and text[-1].isalnum():
        text += "."
    return text


def rewrite(caption: str, single_sentence: bool = True) -> str:
    """The caption rewritten by the guidelines (unchanged if nothing applies, apart from
    the sentence tidying)."""
    text, kept = protect(caption)
    for rule in (pairs, descriptors, attire_and_disability, gendered_words):
        text = rule(text)
    if single_sentence:
        text = one_sentence(text)
    return tidy(restore(text, kept))
