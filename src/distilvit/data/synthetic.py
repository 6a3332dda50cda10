"""Synthetic scenes (`shapes`): the embedded offline dataset, checkable caption by caption.

Each image holds 1-3 objects (shape, colour, size) in the cells of a 3x3 grid on a light
background, drawn procedurally and deterministically from (seed, split, index). Captions come
from several templates, so references vary the way human ones do, and the ground-truth objects
travel with each example so any generated caption can be parsed back and scored.

Splits are disjoint by construction: a scene's layout (which object sits in which cell) is
hashed to a split, and a split only keeps the layouts that hash to it, so no scene appears in
two splits, whatever the sizes asked for.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from distilvit.config import ShapesConfig
from distilvit.data.schema import SPLITS, Example

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
           "yellow": (235, 200, 30), "purple": (150, 60, 190), "orange": (245, 140, 30)}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 0.5, "large": 0.82}  # diameter as a fraction of a grid cell
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
TEMPLATES = ("{objects}.", "a picture of {objects}.", "{objects} on a plain background.",
             "there {verb} {objects}.", "an image showing {objects}.")
SPLIT_SHARES = {"train": 90, "validation": 5, "test": 5}  # percent of layouts per split
SUPERSAMPLE = 4  # draw large, then downscale: anti-aliased edges


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    cell: int  # 0..8, row-major

    @property
    def kind(self) -> tuple[str, str, str]:
        return (self.size, self.colour, self.shape)


# ----- scenes -----------------------------------------------------------------------------
def _weights(names: tuple[str, ...] | list[str], rare: tuple[str, ...], rate: float) -> np.ndarray:
    w = np.array([rate if n in rare else 1.0 for n in names])
    return w / w.sum()


def sample_scene(rng: np.random.Generator, config: ShapesConfig) -> list[SceneObject]:
    """1..max_objects objects in distinct cells; a repeated kind sometimes, so counts occur."""
    n = int(rng.integers(1, config.max_objects + 1))
    cells = rng.choice(9, size=n, replace=False)
    shape_w = _weights(SHAPES, config.rare_shapes, config.rare_rate)
    colour_w = _weights(list(COLOURS), config.rare_colours, config.rare_rate)
    objects: list[SceneObject] = []
    for cell in sorted(int(c) for c in cells):
        if objects and rng.random() < config.repeat_rate:
            kind = objects[int(rng.integers(len(objects)))]
            objects.append(SceneObject(kind.shape, kind.colour, kind.size, cell))
            continue
        objects.append(SceneObject(
            shape=str(rng.choice(SHAPES, p=shape_w)),
            colour=str(rng.choice(list(COLOURS), p=colour_w)),
            size=str(rng.choice(list(SIZES))), cell=cell))
    return objects


def layout_split(objects: list[SceneObject]) -> str:
    """Stable split of a layout (independent of seed, so splits never overlap)."""
    key = repr(sorted((o.cell, o.size, o.colour, o.shape) for o in objects)).encode()
    bucket = int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big") % 100
    edge = 0
    for split, share in SPLIT_SHARES.items():
        edge += share
        if bucket < edge:
            return split
    raise AssertionError("split shares must sum to 100")


def scene_for(split: str, index: int, config: ShapesConfig) -> tuple[list[SceneObject], int]:
    """The scene at `index` of `split` (rejection-sampled until its layout hashes there)."""
    for attempt in range(10_000):
        rng = np.random.default_rng([config.seed, SPLITS.index(split), index, attempt])
        objects = sample_scene(rng, config)
        if layout_split(objects) == split:
            return objects, attempt
    raise RuntimeError(f"no scene found for {split}[{index}]")


# ----- drawing ----------------------------------------------------------------------------
def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        angles, radii = np.deg2rad([-90, 30, 150]), [r] * 3
    else:  # star: 5 outer points, 5 inner
        angles = np.deg2rad(np.arange(10) * 36 - 90)
        radii = [r if i % 2 == 0 else r * 0.45 for i in range(10)]
    return [(cx + rad * np.cos(a), cy + rad * np.sin(a)) for a, rad in zip(angles, radii,
                                                                          strict=True)]


def draw_scene(objects: list[SceneObject], rng: np.random.Generator,
               image_size: int) -> Image.Image:
    big = image_size * SUPERSAMPLE
    background = tuple(int(v) for v in rng.integers(215, 256, size=3))
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    cell = big / 3
    for obj in objects:
        r = cell * SIZES[obj.size] / 2
        jitter = rng.uniform(-0.08, 0.08, size=2) * cell
        cx = (obj.cell % 3 + 0.5) * cell + jitter[0]
        cy = (obj.cell // 3 + 0.5) * cell + jitter[1]
        colour = tuple(int(np.clip(c + rng.integers(-15, 16), 0, 255))
                       for c in COLOURS[obj.colour])
        box = (cx - r, cy - r, cx + r, cy + r)
        if obj.shape == "circle":
            draw.ellipse(box, fill=colour)
        elif obj.shape == "square":
            s = r * 0.85
            draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour)
        else:
            draw.polygon(_polygon(obj.shape, cx, cy, r), fill=colour)
    return image.resize((image_size, image_size), Image.Resampling.BOX)


# ----- captions ---------------------------------------------------------------------------
def object_groups(objects: list[SceneObject]) -> list[tuple[int, tuple[str, str, str]]]:
    """(count, kind) in reading order of first appearance."""
    counts = Counter(o.kind for o in objects)
    seen: list[tuple[str, str, str]] = []
    for o in objects:
        if o.kind not in seen:
            seen.append(o.kind)
    return [(counts[k], k) for k in seen]


def _phrase(count: int, kind: tuple[str, str, str]) -> str:
    size, colour, shape = kind
    return f"{COUNT_WORDS[count]} {size} {colour} {shape}{'s' if count > 1 else ''}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(objects: list[SceneObject], template: int) -> str:
    groups = object_groups(objects)
    verb = "is" if len(groups) == 1 and groups[0][0] == 1 else "are"
    listed = _join([_phrase(c, k) for c, k in groups])
    return TEMPLATES[template].format(objects=listed, verb=verb)


def captions_for(objects: list[SceneObject], rng: np.random.Generator, n: int) -> list[str]:
    templates = rng.choice(len(TEMPLATES), size=min(n, len(TEMPLATES)), replace=False)
    return [caption(objects, int(t)) for t in templates]


# ----- the dataset ------------------------------------------------------------------------
def make_example(split: str, index: int, config: ShapesConfig) -> Example:
    objects, attempt = scene_for(split, index, config)
    rng = np.random.default_rng([config.seed, SPLITS.index(split), index, attempt, 1])
    return Example(
        image=draw_scene(objects, rng, config.image_size),
        captions=captions_for(objects, rng, config.captions_per_image),
        source="shapes", id=f"shapes-{split}-{index}", split=split,
        extra={"objects": [o.__dict__.copy() for o in objects]})


def split_size(split: str, config: ShapesConfig) -> int:
    return {"train": config.train_size, "validation": config.validation_size,
            "test": config.test_size}[split]


def load_shapes(split: str, sample: int | None = None, seed: int = 0,
                config: ShapesConfig | None = None) -> Iterator[Example]:
    """The registry's entry point: examples of one split, capped at `sample`."""
    config = config or ShapesConfig(seed=seed)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    size = split_size(split, config)
    for index in range(min(size, sample) if sample else size):
        yield make_example(split, index, config)
