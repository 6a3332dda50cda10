"""Text-to-image prompts that fill in rare objects (`distilvit data prompts`).

For each rare object, `prompts_per_object` prompts; then up to `combinations` small sets of
rare objects (`combination_size` each) with `prompts_per_combination` prompts each. A prompt is
a scene (object(s) + placement + setting) plus photographic style; its training caption is the
same scene as one plain sentence, without the style words. People appear only as "a person"
or "people", never with gender, age, race or other descriptors. Seeded (the same seed writes
the same file), de-duplicated, and a single rare object is enough (combinations need two).

Every row: id, prompt, objects, caption, file_name (where to save the generated image so the
JSONL, copied into the image folder as metadata.jsonl, makes a `folder` dataset), seed.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

from distilvit.errors import UsageError
from distilvit.quality.config import PromptsConfig
from distilvit.quality.vocabulary import article

PLACEMENTS = ("on", "next to", "in front of", "beside", "near", "under", "behind")
SETTINGS = ("a wooden table", "a kitchen counter", "a city sidewalk", "a grassy park",
            "a sandy beach", "a snowy street", "a living room floor", "a shop window",
            "a plain white background", "a garden path", "a busy market stall", "a desk",
            "a country road", "a school classroom", "a train platform", "a backyard")
LIGHTING = ("in soft morning light", "at golden hour", "under overcast skies",
            "in bright daylight", "in warm indoor light", "at dusk", "under studio lighting")
STYLES = ("a realistic photo", "a candid photograph", "a close-up photo",
          "a wide-angle photo", "a documentary-style photo", "a smartphone snapshot")
MAX_MISSES = 200
PEOPLE = ("", "", "", " with a person nearby", " with people in the background",
          " held by a person")


def read_objects(path: str) -> list[str]:
    """Object names from the quality report's objects_below_T.csv (column 'object')."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--rare-objects {path}: no such file (run `distilvit quality` "
                         "first; it writes objects_below_<T>.csv)")
    with open(file, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "object" not in reader.fieldnames:
            raise UsageError(f"--rare-objects {path}: expected a CSV with an 'object' column")
        names = [row["object"].strip() for row in reader if (row.get("object") or "").strip()]
    if not names:
        raise UsageError(f"--rare-objects {path}: no objects listed (nothing is rare?)")
    return list(dict.fromkeys(names))


def _listed(objects: tuple[str, ...]) -> str:
    phrases = [f"{article(o)} {o}" for o in objects]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _scene(rng: random.Random, objects: tuple[str, ...]) -> tuple[str, str, str, str]:
    return (_listed(objects), rng.choice(PLACEMENTS), rng.choice(SETTINGS),
            rng.choice(PEOPLE) if "person" not in objects else "")


def _row(rng: random.Random, objects: tuple[str, ...]) -> tuple[str, str]:
    things, placement, setting, people = _scene(rng, objects)
    prompt = (f"{rng.choice(STYLES)} of {things} {placement} {setting}{people}, "
              f"{rng.choice(LIGHTING)}, natural colours, sharp focus")
    caption = f"{things[0].upper()}{things[1:]} {placement} {setting}{people}."
    return prompt, caption


def _prompts_for(rng: random.Random, objects: tuple[str, ...], wanted: int,
                 seen: set[str]) -> Iterator[tuple[str, str]]:
    """Up to `wanted` prompts not seen before; gives up after `MAX_MISSES` repeats in a row
    (the templates hold only so many different scenes for one object)."""
    made, misses = 0, 0
    while made < wanted and misses < MAX_MISSES:
        prompt, caption = _row(rng, objects)
        key = " ".join(prompt.lower().split())
        if key in seen:
            misses += 1
            continue
        seen.add(key)
        made, misses = made + 1, 0
        yield prompt, caption


def generate(objects: list[str], cfg: PromptsConfig) -> list[dict[str, Any]]:
    rng = random.Random(cfg.seed)
    seen: set[str] = set()
    groups: list[tuple[tuple[str, ...], int]] = [((o,), cfg.prompts_per_object)
                                                  for o in objects]
    size = max(cfg.combination_size, 2)
    if cfg.combinations > 0 and len(objects) >= size:
        pool = list(combinations(objects, size))
        picked = rng.sample(pool, min(cfg.combinations, len(pool)))
        groups += [(combo, cfg.prompts_per_combination) for combo in picked]
    rows = []
    for group, wanted in groups:
        for prompt, caption in _prompts_for(rng, group, wanted, seen):
            index = len(rows)
            rows.append({"id": f"synthetic-{index:05d}", "prompt": prompt,
                         "objects": list(group), "caption": caption,
                         "file_name": f"synthetic-{index:05d}.png", "seed": cfg.seed})
    return rows


def write_prompts(cfg: PromptsConfig) -> list[dict[str, Any]]:
    rows = generate(read_objects(cfg.rare_objects), cfg)
    out = Path(cfg.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return rows
