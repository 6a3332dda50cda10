"""The quality report end to end: skewed `shapes` with a tiny local CLIP, the people-caption
fixtures through the CLI, and report.html rendered by headless Chromium."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from distilvit.cli import main
from distilvit.quality.config import QualityConfig
from distilvit.quality.html_report import SECTIONS
from distilvit.quality.records import from_example
from distilvit.quality.report import build_report
from distilvit.words.objects import object_names
from fixtures.quality_helpers import build_people_folder, build_tiny_clip, skewed_shapes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def shapes_report(tiny_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("shapes-report")
    cfg = QualityConfig(clip_model=str(tiny_clip), output_dir=str(out), rare_threshold=20,
                        batch_size=16)
    summary = build_report((from_example(e) for e in skewed_shapes(200)), cfg, "shapes-skewed")
    return summary, out


@pytest.fixture(scope="module")
def people_report(tiny_clip, tmp_path_factory):
    folder = build_people_folder(tmp_path_factory.mktemp("people") / "images")
    out = tmp_path_factory.mktemp("people-report")
    code = main(["quality", str(folder), "--split", "test", "--clip-model", str(tiny_clip),
                 "--output-dir", str(out), "--worst-examples", "5"])
    assert code == 0
    return json.loads((out / "summary.json").read_text()), out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_object_counts_match_the_scenes_and_rare_ones_are_found(shapes_report):
    summary, out = shapes_report
    truth = Counter()
    for example in skewed_shapes(200):
        truth.update(set(object_names(example.extra["objects"])))
    objects = summary["objects"]
    assert objects["counts"] == dict(truth)
    rare = {name for name in truth if "star" in name or "purple" in name}
    common = set(truth) - rare
    assert max(truth[n] for n in rare) < min(truth[n] for n in common)
    assert rare <= set(objects["rare_objects"])
    listed = read_csv(out / "objects_below_20.csv")
    assert [row["object"] for row in listed] == objects["rare_objects"]
    assert all(int(row["count"]) < 20 for row in listed)
    values = np.array(sorted(truth.values()), dtype=float)  # Gini from its definition
    mean_abs_diff = np.abs(values[:, None] - values[None, :]).mean()
    assert objects["gini"] == pytest.approx(mean_abs_diff / (2 * values.mean()))
    assert objects["top5_share"] == pytest.approx(values[-5:].sum() / values.sum())
    assert any("objects below 20" in alert for alert in objects["alerts"])


def test_sampling_weights_favour_rare_objects(shapes_report):
    _, out = shapes_report
    rows = read_csv(out / "reweighting.csv")
    weights = np.array([float(r["weight"]) for r in rows])
    assert weights.mean() == pytest.approx(1.0, abs=1e-4)
    with_rare = [float(r["weight"]) for r in rows if "star" in r["objects"]
                 or "purple" in r["objects"]]
    without = [float(r["weight"]) for r in rows if not ("star" in r["objects"]
                                                       or "purple" in r["objects"])]
    assert with_rare and min(with_rare) > max(without)


def test_clip_scores_equal_the_models_own_cosine(shapes_report, tiny_clip):
    import torch
    from transformers import AutoProcessor, CLIPModel

    summary, out = shapes_report
    rows = read_csv(out / "per_example.csv")
    assert summary["alignment"]["model"] == str(tiny_clip)
    scores = [float(r["clip_score"]) for r in rows]
    assert all(0.0 <= s <= 2.5 for s in scores) and len(set(scores)) > 10
    assert summary["alignment"]["ref_clip_score"]["n"] == summary["captions"]
    # Independent path: CLIPModel's forward logits are logit_scale * cosine.
    example = next(iter(skewed_shapes(1)))
    model, processor = CLIPModel.from_pretrained(tiny_clip), AutoProcessor.from_pretrained(tiny_clip)
    texts = [f"A photo depicts {c}" for c in example.captions]
    inputs = processor(text=texts, images=example.image, return_tensors="pt", padding=True)
    with torch.inference_mode():
        logits = model(**inputs).logits_per_image[0] / model.logit_scale.exp()
    expected = float((2.5 * logits.clamp(min=0)).mean())
    assert float(rows[0]["clip_score"]) == pytest.approx(expected, abs=1e-4)


def test_context_rules_in_the_people_report(people_report):
    summary, out = people_report
    rows = {r["caption"]: r["bias_terms"] for r in read_csv(out / "per_example.csv")}
    race = {caption for caption, terms in rows.items() if "race_ethnicity:" in terms}
    assert race == {"A young Black man in a white shirt playing basketball.",
                    "An elderly Asian woman holding an umbrella in the rain.",
                    "Two African American women talking on a sidewalk.",
                    "The image shows a man with dark skin playing the guitar. "
                    "The background is blue."}
    for clean in ("Black and white photo of a city street with cars.",
                  "A black dog chasing a frisbee in a park.", "An old building with a clock tower.",
                  "A young tree planted in a garden.", "A white cat sleeping on a brown couch.",
                  "French fries and a sandwich on a plate.", "A man-made lake surrounded by trees.",
                  "A German shepherd running through the snow.", "A queen-size bed in a hotel room."):
        assert rows[clean] == "", clean
    rates = summary["bias"]["captions"]["categories"]
    assert rates["race_ethnicity"]["rate"] == pytest.approx(4 / len(rows))
    assert summary["bias"]["originals"] is None and summary["fidelity"]["score"] is None
    assert summary["objects"]["origin"].startswith("caption vocabulary")
    assert summary["objects"]["counts"]["person"] > summary["objects"]["counts"]["dog"] > 0
    assert summary["objects"]["counts"]["hot dog"] == 1
    assert len(summary["worst_examples"]) == 5
    assert all(e["reasons"] for e in summary["worst_examples"])


def test_debiased_dataset_reports_before_and_after(tmp_path):
    from fixtures.quality_helpers import PEOPLE_CAPTIONS

    debiased = tmp_path / "debiased.jsonl"
    assert main(["data", "debias", str(PEOPLE_CAPTIONS), "--output", str(debiased)]) == 0
    out = tmp_path / "report"
    assert main(["quality", str(debiased), "--output-dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    bias = summary["bias"]
    assert bias["captions"]["categories"]["gender"]["rate"] == 0.0
    assert bias["originals"]["categories"]["gender"]["rate"] > 0.5
    assert summary["fidelity"]["score"]["n"] == summary["captions"]
    assert 0.5 < summary["fidelity"]["score"]["mean"] < 1.0
    assert "all-MiniLM-L6-v2" in summary["fidelity"]["method"]
    html = (out / "report.html").read_text()
    assert "original captions" in html and 'id="chart-fidelity"' in html


def test_alignment_is_skipped_with_a_reason_when_the_model_cannot_be_had(monkeypatch, tmp_path):
    from distilvit.quality import alignment

    monkeypatch.setattr(alignment, "hub_reachable", lambda timeout=3.0: False)
    cfg = QualityConfig(clip_model="nobody/no-such-clip-model", output_dir=str(tmp_path))
    summary = build_report((from_example(e) for e in skewed_shapes(8)), cfg, "shapes")
    assert summary["alignment"]["clip_score"] is None
    assert "no-such-clip-model is not in the local cache" in summary["alignment"]["skipped"]
    assert "Not computed" in (tmp_path / "report.html").read_text()


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.ids: set[str] = set()
        self.attrs: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        values = dict(attrs)
        self.attrs.append((tag, values))
        if values.get("id"):
            self.ids.add(values["id"])


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_report_renders_in_headless_chromium(people_report, tmp_path):
    _, out = people_report
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (out / "report.html").resolve().as_uri()],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Dom()
    dom.feed(result.stdout)
    html_tag = next(attrs for tag, attrs in dom.attrs if tag == "html")
    assert html_tag.get("data-rendered") == str(len(SECTIONS))  # the inline script ran
    assert {key for key, _ in SECTIONS} <= dom.ids
    assert {"chart-bias", "chart-objects", "chart-length", "chart-clip", "worst-table"} <= dom.ids
    assert dom.tags["svg"] == 4 and dom.tags["rect"] > 20  # no RefCLIP: one caption each
    images = [attrs["src"] for tag, attrs in dom.attrs if tag == "img"]
    assert len(images) == 5 and all(src.startswith("data:image/png;base64,") for src in images)
    external = [a for _, attrs in dom.attrs for k, a in attrs.items()
                if k in ("src", "href") and a and a.startswith(("http:", "https:", "//"))]
    assert external == []
