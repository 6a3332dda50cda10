"""Object vocabulary for captions without an objects column: COCO's 80 categories (Lin et al.
2014), each with the synonyms captions use and their plurals, extendable from a JSON file.

Matching is on whole words, longest phrase first, so "hot dog" is a hot dog and not a dog,
"teddy bear" not a bear, "fire truck" a truck. "orange" counts as the fruit only where no noun
follows it ("an orange cat" is a colour).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from distilvit.errors import UsageError

# category -> synonyms (singular; plurals are derived by `plural`, irregular ones listed).
COCO: dict[str, tuple[str, ...]] = {
    "person": ("man", "men", "woman", "women", "people", "persons", "child", "children", "kid",
               "boy", "girl", "guy", "lady", "ladies", "adult", "baby", "babies", "player",
               "skier", "surfer", "skateboarder", "snowboarder", "pedestrian", "rider",
               "teenager", "toddler"),
    "bicycle": ("bike", "cycle"), "car": ("sedan", "taxi", "suv"),
    "motorcycle": ("motorbike", "moped", "scooter"),
    "airplane": ("plane", "aeroplane", "jet", "aircraft", "airliner"),
    "bus": ("buses",), "train": ("locomotive", "tram"),
    "truck": ("lorry", "pickup truck", "fire truck"),
    "boat": ("ship", "sailboat", "canoe", "kayak", "yacht", "ferry"),
    "traffic light": ("traffic signal", "stoplight"), "fire hydrant": ("hydrant",),
    "stop sign": (), "parking meter": (), "bench": ("benches",),
    "bird": ("pigeon", "seagull", "gull", "duck", "goose", "geese", "parrot", "sparrow", "swan",
             "owl"),
    "cat": ("kitten", "kitty"), "dog": ("puppy", "puppies", "pup"), "horse": ("pony", "foal"),
    "sheep": ("lamb",), "cow": ("cattle", "bull", "calf", "calves", "ox", "oxen"),
    "elephant": (), "bear": ("grizzly", "polar bear"), "zebra": (), "giraffe": (),
    "backpack": ("rucksack", "knapsack"), "umbrella": ("parasol",), "handbag": ("purse",),
    "tie": ("necktie",), "suitcase": ("luggage",), "frisbee": ("flying disc",),
    "skis": ("ski",), "snowboard": (),
    "sports ball": ("ball", "soccer ball", "football", "basketball", "volleyball",
                    "tennis ball", "golf ball", "beach ball"),
    "kite": (), "baseball bat": (), "baseball glove": ("baseball mitt", "mitt"),
    "skateboard": (), "surfboard": ("surf board",),
    "tennis racket": ("racket", "racquet", "tennis racquet"), "bottle": (),
    "wine glass": ("wineglass",), "cup": ("mug", "teacup", "coffee cup"), "fork": (),
    "knife": ("knives",), "spoon": (), "bowl": (), "banana": (), "apple": (),
    "sandwich": ("sandwiches", "burger", "hamburger", "sub"), "orange": ("oranges",),
    "broccoli": (), "carrot": (), "hot dog": ("hotdog",), "pizza": (),
    "donut": ("doughnut",), "cake": ("cupcake",), "chair": ("armchair", "stool"),
    "couch": ("sofa", "couches"), "potted plant": ("houseplant", "plant pot"), "bed": (),
    "dining table": ("table",), "toilet": (), "tv": ("television", "tv set", "tvs"),
    "laptop": ("notebook computer",), "mouse": ("computer mouse",),
    "remote": ("remote control",), "keyboard": (),
    "cell phone": ("phone", "cellphone", "smartphone", "mobile phone"),
    "microwave": (), "oven": ("stove",), "toaster": (), "sink": (),
    "refrigerator": ("fridge",), "book": (), "clock": (), "vase": (), "scissors": (),
    "teddy bear": ("teddy", "stuffed bear"), "hair drier": ("hair dryer", "hairdryer",
                                                           "blow dryer"),
    "toothbrush": ("toothbrushes",),
}

_INVARIANT = {"sheep", "cattle", "people", "children", "men", "women", "scissors", "skis",
              "luggage", "broccoli", "geese", "oxen", "calves", "knives", "puppies", "babies",
              "ladies", "persons", "buses", "benches", "sandwiches", "couches", "tvs",
              "toothbrushes", "oranges"}


def plural(word: str) -> str:
    """English plural of a (last) word: box -> boxes, puppy -> puppies, knife -> knives."""
    head, _, last = word.rpartition(" ")
    if last in _INVARIANT:
        return word
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        last = last[:-1] + "ies"
    elif last.endswith("fe"):
        last = last[:-2] + "ves"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def article(phrase: str) -> str:
    """'a' or 'an' for a phrase (by its first letter, with the common exceptions)."""
    word = phrase.split()[0].lower() if phrase.split() else ""
    if word.startswith(("uni", "use", "usu", "eu", "one", "uk")):
        return "a"
    if word.startswith(("hour", "honest", "honor", "honour", "heir")):
        return "an"
    return "an" if word[:1] in set("aeiou") else "a"


@dataclass(frozen=True)
class Vocabulary:
    categories: Mapping[str, tuple[str, ...]]

    @cached_property
    def _lookup(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for category, synonyms in self.categories.items():
            for name in (category, *synonyms):
                for form in {name, plural(name)}:
                    table.setdefault(form.lower(), category)
        return table

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        forms = sorted(self._lookup, key=len, reverse=True)
        body = "|".join(r"[\s-]+".join(map(re.escape, f.split())) for f in forms)
        return re.compile(rf"\b(?:{body})\b", re.IGNORECASE)

    def find(self, caption: str) -> list[str]:
        """Categories named in `caption`, each once, in order of first mention."""
        found: list[str] = []
        for match in self._pattern.finditer(caption):
            form = " ".join(re.split(r"[\s-]+", match.group().lower()))
            if form == "orange" and _noun_follows(caption, match.end()):
                continue  # the colour
            category = self._lookup[form]
            if category not in found:
                found.append(category)
        return found

    def extended(self, path: str) -> Vocabulary:
        """This vocabulary plus the categories of a JSON file {category: [synonyms]}."""
        try:
            extra = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--object-vocab {path}: cannot read a JSON object ({exc})") from None
        if not isinstance(extra, dict) or not all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in extra.values()):
            raise UsageError(f"--object-vocab {path}: expected {{\"category\": [\"synonym\", "
                             "...]}}")
        merged = {k: tuple(v) for k, v in self.categories.items()}
        for category, synonyms in extra.items():
            merged[category.lower()] = (*merged.get(category.lower(), ()),
                                        *(s.lower() for s in synonyms))
        return Vocabulary(merged)


_FOLLOWING_WORD = re.compile(r"[\s-]+([a-z]+)", re.IGNORECASE)
_NOT_NOUNS = {"and", "or", "on", "in", "with", "next", "beside", "near", "at", "of", "is",
              "are", "sits", "lies", "slices", "slice", "halves", "half", "wedges", "peel",
              "juice", "tree", "trees"}


def _noun_follows(text: str, end: int) -> bool:
    match = _FOLLOWING_WORD.match(text, end)
    return bool(match) and match.group(1).lower() not in _NOT_NOUNS


COCO_VOCABULARY = Vocabulary(COCO)
