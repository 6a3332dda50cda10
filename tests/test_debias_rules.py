"""The offline de-biasing rules: the issue's tricky cases and more, invariants over the people
fixtures, and `distilvit data debias` on a JSONL file and on a saved dataset."""

from __future__ import annotations

import json

import pytest

from distilvit.cli import main
from distilvit.quality.debias_rules import rewrite
from distilvit.words.lexicons import find_all
from fixtures.quality_helpers import PEOPLE_CAPTIONS, people_rows, picture

REMOVED = ("gender", "race_ethnicity", "nationality", "religion", "sexual_orientation")


@pytest.mark.parametrize("caption, expected", [
    # the cases
    ("a man and his dog", "A person and their dog."),
    ("two women", "Two people."),
    ("a boy's bike", "A child's bike."),
    ("black and white photo of a harbour", "Black and white photo of a harbour."),
    # pairs, plurals, possessives
    ("A man and a woman sitting on a bench.", "Two people sitting on a bench."),
    ("a boy and girl running", "Two children running."),
    ("Men and women dancing", "People dancing."),
    ("The boys' bikes", "The children's bikes."),
    ("a bride and groom cutting a cake", "A couple cutting a cake."),
    ("a sign for the women's restroom", "A sign for the restroom."),
    # pronouns: possessive vs object "her", standalone "his"
    ("she is holding her phone and smiling at him", "The person is holding their phone and "
                                                    "smiling at them."),
    ("a girl gives her a ball", "A child gives them a ball."),
    ("the bag is his", "The bag is theirs."),
    ("A father teaching his son to ride a bicycle.", "A parent teaching their child to ride a "
                                                     "bicycle."),
    ("He's riding a horse", "The person is riding a horse."),
    # descriptors of people go, the same words on things stay; articles follow
    ("An Asian man holding an umbrella", "A person holding an umbrella."),
    ("a young Black man walks a black dog", "A young person walks a black dog."),
    ("a black and white couple", "A couple."),
    ("an Indian family eating Indian food", "A family eating Indian food."),
    ("French fries and a German shepherd", "French fries and a German shepherd."),
    ("a female doctor and a female elephant", "A doctor and a female elephant."),
    ("A Muslim praying", "A person praying."),
    ("an elderly woman with dark skin reading", "An elderly person reading."),
    ("a beautiful woman on a beautiful beach", "A person on a beautiful beach."),
    ("a gay couple on a straight road", "A couple on a straight road."),
    ("A woman in a hijab holds her baby", "A person in a headscarf holds their baby."),
    ("a wheelchair-bound man near a handicapped parking sign",
     "A person using a wheelchair near an accessible parking sign."),
    # objects named after people stay
    ("a man-made lake", "A man-made lake."),
    ("a man wearing a cowboy hat", "A person wearing a cowboy hat."),
    ("a queen-size bed and a ladybug", "A queen-size bed and a ladybug."),
    ("a manhole cover", "A manhole cover."),
    ("a horse to groom", "A horse to groom."),
    # one simple sentence, capitalised, with a period
    ("The image shows a policeman directing traffic. Cars wait.",
     "A police officer directing traffic."),
    ("A MAN RUNNING", "A PERSON RUNNING."),
    ("an old building and a young tree", "An old building and a young tree."),
])
def test_rewrites(caption, expected):
    assert rewrite(caption) == expected


def test_several_sentences_are_kept_when_asked():
    assert rewrite("A man waves. A woman smiles.", single_sentence=False) == \
        "A person waves. A person smiles."


def test_fixtures_lose_every_removed_category_and_rules_are_idempotent():
    for row in people_rows():
        before, after = row["alt_text"], rewrite(row["alt_text"])
        left = {c for c in find_all(after) if c in REMOVED}
        assert not left, (before, after, find_all(after))
        assert rewrite(after) == after
        if not find_all(before) and "image shows" not in before:
            assert after == before  # nothing to do: the caption is kept word for word


def test_debias_jsonl_cli_keeps_originals_and_reports(tmp_path, capsys):
    out = tmp_path / "debiased.jsonl"
    assert main(["data", "debias", str(PEOPLE_CAPTIONS), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    source = people_rows()
    assert [r["id"] for r in rows] == [r["id"] for r in source]
    for new, old in zip(rows, source, strict=True):
        assert new["original_alt_text"] == [old["alt_text"]]
        assert isinstance(new["alt_text"], str) and new["alt_text"] == rewrite(old["alt_text"])
    summary = json.loads((tmp_path / "debiased.summary.json").read_text())
    assert summary["bias_rates"]["gender"]["before"] > 0.5
    assert all(summary["bias_rates"][c]["after"] == 0.0 for c in REMOVED)
    assert summary["changed"] == sum(r["alt_text"] != r["original_alt_text"][0] for r in rows)
    assert summary["fidelity"]["changed_captions"] == summary["changed"]
    assert 0.5 < summary["fidelity"]["mean"] < 1.0
    assert "before" in printed and "fidelity of changed captions" in printed


def test_debias_saved_dataset_keeps_images_and_earlier_originals(tmp_path):
    import datasets

    rows = people_rows()[:6]
    images = [picture(n) for n in range(6)]
    data = datasets.DatasetDict({"train": datasets.Dataset.from_dict({
        "image": images, "alt_text": [[r["alt_text"], "A dog."] for r in rows],
        "original_alt_text": [["human caption"]] * 6,
        "source": ["fixture"] * 6, "source_id": [r["id"] for r in rows]},
        features=datasets.Features({"image": datasets.Image(),
                                    "alt_text": datasets.List(datasets.Value("string")),
                                    "original_alt_text": datasets.List(datasets.Value("string")),
                                    "source": datasets.Value("string"),
                                    "source_id": datasets.Value("string")}))})
    data.save_to_disk(str(tmp_path / "in"))
    before = sorted(p.name for p in (tmp_path / "in" / "train").iterdir())
    assert main(["data", "debias", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "in" / "train").iterdir()) == before  # untouched
    result = datasets.load_from_disk(str(tmp_path / "out"))["train"]
    assert result[0]["alt_text"] == [rewrite(rows[0]["alt_text"]), "A dog."]
    assert result[0]["original_alt_text"] == [rows[0]["alt_text"], "A dog."]
    assert result[0]["source_original_alt_text"] == ["human caption"]
    assert result[3]["image"].tobytes() == images[3].tobytes()
