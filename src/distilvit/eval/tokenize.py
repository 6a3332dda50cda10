"""PTB tokenisation for the COCO caption metrics: Stanford's jar under Java, a Python mimic without.

Every COCO number is computed on captions that went through pycocoevalcap's `PTBTokenizer`
(Stanford CoreNLP 3.4.1, `-preserveLines -lowerCase`, then its punctuation list removed). We
run the same jar with the same flags, but feed it stdin instead of the temporary file that
pycocoevalcap writes next to the jar (that fails where site-packages is read-only), and pin
UTF-8 so the locale cannot garble non-ASCII captions.

Without Java, `simple_tokenize` mimics it for ordinary English captions: lowercase, clitics
split ("man's" -> "man 's", "don't" -> "do n't"), punctuation split off and dropped, brackets
kept as "-lrb-"/"-rrb-" the way the jar's lowercased output leaves them. Tests check it
against the jar; rare constructions (URLs, emoticons, odd abbreviations) may still differ.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

from pycocoevalcap.tokenizer import ptbtokenizer

__all__ = ["find_java", "ptb_tokenize", "simple_tokenize", "stanford_tokenize"]

_JAR = Path(ptbtokenizer.__file__).with_name(ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
_PUNCTUATIONS = frozenset(ptbtokenizer.PUNCTUATIONS)

logger = logging.getLogger(__name__)


def find_java() -> str | None:
    """The `java` the pycocoevalcap scorers will run (they call it by name, from PATH)."""
    return shutil.which("java")


def ptb_tokenize(texts: list[str], java: str | None) -> list[str]:
    """One tokenised, lowercased, punctuation-free string per text; the jar's when it can run."""
    if java is not None:
        try:
            return stanford_tokenize(texts, java)
        except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
            logger.warning("PTBTokenizer failed (%s); tokenising in Python instead", exc)
    return [simple_tokenize(text) for text in texts]


def stanford_tokenize(texts: list[str], java: str) -> list[str]:
    """pycocoevalcap's PTBTokenizer, one JVM for all texts."""
    # Every Unicode line break (\r, \f, \u2028, ...) ends a line for the lexer; collapsing all
    # whitespace keeps one line per caption.
    lines = [" ".join(text.split()) for text in texts]
    cmd = [java, "-cp", str(_JAR), "edu.stanford.nlp.process.PTBTokenizer",
           "-preserveLines", "-lowerCase", "-encoding", "utf-8"]
    done = subprocess.run(cmd, input="\n".join(lines).encode("utf-8"), capture_output=True,
                          check=True)
    out = done.stdout.decode("utf-8", errors="replace").split("\n")
    if len(out) != len(lines):
        raise RuntimeError(f"PTBTokenizer returned {len(out)} lines for {len(lines)} captions")
    return [" ".join(w for w in line.split() if w not in _PUNCTUATIONS) for line in out]


# PTB's names for brackets, lowercased by -lowerCase (so pycocoevalcap's list keeps them).
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_SPLIT_ANYWHERE = re.compile(r'([()\[\]{}";=&^|~*%]|\.\.\.+|--+|[\u2013\u2014]|(?<=[a-z])\+(?=[a-z]))')
# The jar cannot tokenise characters outside the Basic Multilingual Plane (emoji): it drops them.
_OUTSIDE_BMP = re.compile("[\U00010000-\U0010ffff]")
_CLITIC = re.compile(r"^(.+?)(n't|'s|'re|'ve|'ll|'m|'d)$")
_DECIMAL_UNIT = re.compile(r"^(\d+\.\d+)([a-z]+)$")
_INNER_COMMA = re.compile(r"(?<!\d),|,(?!\d)")
_ACRONYM = re.compile(r"(?:[a-z]\.)+[a-z]?|[a-z]+(?:\.[a-z]+)+")
# Words PTBTokenizer keeps their period on (checked against the jar).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr vs etc inc ltd co corp prof mt ft ave rd blvd sq dept est gen col "
    "lt sgt capt rev hon gov sen rep jan feb aug sept oct nov dec".split())
_SPLIT_WORDS = {"cannot": ["can", "not"], "gonna": ["gon", "na"], "wanna": ["wan", "na"],
                "gotta": ["got", "ta"]}
_NORMALISE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u20ac": "$", "\u00a3": "#"})


def simple_tokenize(text: str) -> str:
    """PTBTokenizer's output for one caption, without Java (see the module docstring)."""
    text = _OUTSIDE_BMP.sub("", text.lower().translate(_NORMALISE))
    text = _SPLIT_ANYWHERE.sub(r" \1 ", text)
    tokens = [token for chunk in text.split() for token in _split_chunk(chunk)]
    return " ".join(t for t in tokens if not _is_punctuation(t))


def _is_punctuation(token: str) -> bool:
    """pycocoevalcap's list, plus our spellings of what the jar turns into list members."""
    # The jar writes `` / '' for a double quote, "..." for any run of dots, "--" for dashes.
    return token in _PUNCTUATIONS or token == '"' or _DOTS_OR_DASHES.fullmatch(token) is not None


_DOTS_OR_DASHES = re.compile(r"\.{3,}|-{2,}|[\u2013\u2014]")


def _split_chunk(chunk: str) -> list[str]:
    if chunk in _BRACKETS:
        return [_BRACKETS[chunk]]
    head: list[str] = []
    while chunk[:1] in ("'", "`", "$", "-") and len(chunk) > 1 and not chunk[1].isdigit():
        head.append(chunk[0])
        chunk = chunk[1:]
    if chunk[:1] == "$" and len(chunk) > 1:
        head.append("$")
        chunk = chunk[1:]
    tail: list[str] = []
    while chunk and (cut := _trailing_cut(chunk)):
        tail.insert(0, chunk[-cut:])
        chunk = chunk[:-cut]
    return head + _split_word(chunk) + tail


def _trailing_cut(chunk: str) -> int:
    """How many trailing characters form one punctuation token (0: none)."""
    if len(chunk) < 2:
        return 0
    last = chunk[-1]
    if last in "!?":
        return len(chunk) - len(chunk.rstrip("!?"))
    if last == ".":
        stem = chunk[:-1]
        kept = stem in _ABBREVIATIONS or _ACRONYM.fullmatch(chunk[:-1]) is not None
        return 0 if kept else 1
    return 1 if last in ",:'-`" else 0


def _split_word(word: str) -> list[str]:
    if not word:
        return []
    if word in _SPLIT_WORDS:
        return list(_SPLIT_WORDS[word])
    if (match := _DECIMAL_UNIT.match(word)) is not None:
        return list(match.groups())
    if len(parts := _INNER_COMMA.split(word)) > 1:  # commas are dropped anyway
        return [token for part in parts for token in _split_word(part)]
    if (match := _CLITIC.match(word)) is not None:
        return [match.group(1), match.group(2)]
    return [word]
