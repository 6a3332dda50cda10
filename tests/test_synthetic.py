from collections import Counter

import numpy as np

from distilvit.config import ShapesConfig
from distilvit.data.synthetic import TEMPLATES, caption, layout_split, load_shapes, scene_for
from distilvit.eval.attributes import attribute_scores, parse_caption, truth_kinds

SMALL = ShapesConfig(train_size=300, validation_size=60, test_size=60)


def test_deterministic_by_seed_and_index():
    a = next(load_shapes("train", config=SMALL))
    b = next(load_shapes("train", config=SMALL))
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.captions == b.captions and a.extra == b.extra
    other = next(load_shapes("train", config=ShapesConfig(seed=1)))
    assert other.extra != a.extra or not np.array_equal(np.asarray(a.image),
                                                        np.asarray(other.image))


def test_splits_are_disjoint_layouts():
    layouts = {}
    for split in ("train", "validation", "test"):
        for index in range(60):
            objects, _ = scene_for(split, index, SMALL)
            assert layout_split(objects) == split
            key = tuple(sorted((o.cell, o.size, o.colour, o.shape) for o in objects))
            assert layouts.setdefault(key, split) == split


def test_every_template_parses_back_to_the_truth():
    for example in load_shapes("test", config=SMALL):
        objects = example.extra["objects"]
        for template in range(len(TEMPLATES)):
            from distilvit.data.synthetic import SceneObject

            text = caption([SceneObject(**o) for o in objects], template)
            assert parse_caption(text) == truth_kinds(objects), text


def test_scores_on_perfect_and_wrong_captions():
    examples = list(load_shapes("validation", config=SMALL))
    scenes = [e.extra["objects"] for e in examples]
    perfect = attribute_scores([e.captions[0] for e in examples], scenes)
    assert perfect["attribute_accuracy"] == perfect["strict_accuracy"] == 1.0
    wrong = attribute_scores(["a small red circle."] * len(examples), scenes)
    assert wrong["attribute_accuracy"] < 0.2


def test_images_and_captions_vary():
    examples = list(load_shapes("train", sample=50, config=SMALL))
    assert len(examples) == 50
    assert all(e.image.size == (SMALL.image_size,) * 2 and e.image.mode == "RGB" for e in examples)
    assert all(len(set(e.captions)) == SMALL.captions_per_image for e in examples)
    counts = Counter(len(e.extra["objects"]) for e in examples)
    assert set(counts) == {1, 2, 3}


def test_rare_shapes_are_rare():
    skewed = ShapesConfig(rare_shapes=("star",), rare_rate=0.05, train_size=400)
    shapes = Counter(o["shape"] for e in load_shapes("train", config=skewed)
                     for o in e.extra["objects"])
    assert shapes["star"] < 0.05 * sum(shapes.values())
