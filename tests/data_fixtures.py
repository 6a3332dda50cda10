"""Tiny local copies of each caption dataset, in its real layout and column schema.

Hub sources are written the way the Hub serves them (parquet under `data/<split>-*.parquet`, or
a `save_to_disk` folder where the hub repo is one), so the loaders read them through the same
`datasets` calls they use for the Hub. Every builder adds one corrupt image and one row without
a usable caption; ids are chosen so tests can name them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value
from datasets import List as DList
from PIL import Image as PILImage

CORRUPT = b"\x89PNG\r\n\x1a\n but then not an image"
STRINGS = DList(Value("string"))


def png(n: int) -> bytes:
    """A distinct 8x8 image per n (distinct bytes too: docornot's ids are image hashes)."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (8, 8), (n * 37 % 256, n * 91 % 256, n * 53 % 256)).save(buffer, "PNG")
    return buffer.getvalue()


def cell(data: bytes) -> dict[str, Any]:
    return {"bytes": data, "path": None}


def columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {key: [row[key] for row in rows] for key in rows[0]}


def write_parquet(root: Path, splits: dict[str, list[dict[str, Any]]],
                  features: Features) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        dataset = Dataset.from_dict(columns(rows), features=features)
        dataset.to_parquet(str(root / "data" / f"{name}-00000-of-00001.parquet"))
    return root


# --- flickr: one hub split `test`, a Karpathy `split` column -----------------------------------

FLICKR_FEATURES = Features({
    "image": Image(), "alt_text": Value("string"), "sentids": STRINGS,
    "split": Value("string"), "img_id": Value("string"), "filename": Value("string"),
    "original_alt_text": STRINGS,
})


def flickr_row(n: int, split: str, alt_text: str, image: bytes | None = None) -> dict[str, Any]:
    return {"image": cell(image or png(n)), "alt_text": alt_text, "sentids": [str(n * 5)],
            "split": split, "img_id": str(n), "filename": f"{n}.jpg",
            "original_alt_text": [f"A man and his dog {n}.", f"A guy walks a dog {n}."]}


def build_flickr(root: Path) -> Path:
    rows = [flickr_row(1, "train", "  A person walks a dog on grass.  "),
            flickr_row(2, "train", "Kids play in a park."),
            flickr_row(3, "val", "A red boat on a lake."),
            flickr_row(4, "test", "A cat sleeps on a sofa."),
            flickr_row(5, "train", "A broken picture.", image=CORRUPT),
            flickr_row(6, "train", "   ")]
    return write_parquet(root, {"test": rows}, FLICKR_FEATURES)


# --- coco: a save_to_disk DatasetDict (train/validation/test), alt_text str or list ----------


def coco_rows(ids: Sequence[int], alt_text: Any) -> list[dict[str, Any]]:
    return [{"image": cell(CORRUPT if n == 12 else png(n)), "image_id": n,
             "coco_url": f"http://images.cocodataset.org/{n:012d}.jpg",
             "alt_text": alt_text(n), "objects": ["dog", "ball"]} for n in ids]


def coco_features(alt_text: Any) -> Features:
    return Features({"image": Image(), "image_id": Value("int64"), "coco_url": Value("string"),
                     "alt_text": alt_text, "objects": STRINGS})


def build_coco(root: Path) -> Path:
    single, listed = coco_features(Value("string")), coco_features(STRINGS)
    DatasetDict({
        "train": Dataset.from_dict(columns(coco_rows([10, 11, 12], lambda n: f"Coco {n}.")),
                                   features=single),
        "validation": Dataset.from_dict(columns(coco_rows(
            [20], lambda n: [f"Coco {n} first.", f"Coco {n} second."])), features=listed),
        "test": Dataset.from_dict(columns(coco_rows([30], lambda n: f"Coco {n}.")),
                                  features=single),
    }).save_to_disk(str(root))
    return root


# --- pexels: one hub split `train`, no split column -------------------------------------------

PEXELS_FEATURES = Features({"image_id": Value("int32"), "alt_text": Value("string"),
                            "objects": STRINGS, "image": Image(), "source": Value("string")})
PEXELS_SIZE = 60  # rows 0..59; 58 is corrupt, 59 has an empty caption


def build_pexels(root: Path) -> Path:
    rows = [{"image_id": n, "alt_text": "" if n == 59 else f"Pexels photo {n}.",
             "objects": ["tree"], "image": cell(CORRUPT if n == 58 else png(n)),
             "source": "pexels"} for n in range(PEXELS_SIZE)]
    return write_parquet(root, {"train": rows}, PEXELS_FEATURES)


# --- docornot: train/test/validation, is_document class label, no captions --------------------

DOCORNOT_FEATURES = Features({"image": Image(), "is_document": ClassLabel(names=["no", "yes"])})


def build_docornot(root: Path) -> Path:
    def rows(spec: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        return [{"image": cell(CORRUPT if n < 0 else png(n)), "is_document": doc}
                for n, doc in spec]

    return write_parquet(root, {"train": rows([(100, 1), (101, 1), (102, 0), (-1, 1)]),
                                "test": rows([(110, 1)]),
                                "validation": rows([(120, 1), (121, 0)])}, DOCORNOT_FEATURES)


# --- validation: one split `train` (here a plain save_to_disk Dataset), checkvite columns ------

YES_NO = ClassLabel(names=["no", "yes"])
VALIDATION_FEATURES = Features({
    "dataset": Value("string"), "image_id": Value("int64"), "image": Image(),
    "alt_text": Value("string"), "license": Value("string"), "source": Value("string"),
    "inclusive_alt_text": Value("string"), "need_training": YES_NO, "verified": YES_NO,
    "rejection_reasons": STRINGS, "added_by": Value("string"), "verified_by": Value("string"),
    "nsfw": YES_NO, "golden": YES_NO, "gpt_alt_text": Value("string"),
})
VALIDATION_IDS = range(500, 540)  # 538 is corrupt, 539 has no caption at all


def validation_row(n: int) -> dict[str, Any]:
    return {"dataset": "Pexels", "image_id": n, "image": cell(CORRUPT if n == 538 else png(n)),
            "alt_text": f"Woman holding a phone {n}", "license": "public domain",
            "source": "https://www.pexels.com/", "verified": n % 2, "need_training": 0,
            "inclusive_alt_text": "" if n % 2 == 0 or n == 539 else f"Person with a phone {n}.",
            "rejection_reasons": [], "added_by": "", "verified_by": "", "nsfw": 0, "golden": 0,
            "gpt_alt_text": "" if n == 539 else f"A person holding a phone {n}."}


def build_validation(root: Path) -> Path:
    rows = [validation_row(n) for n in VALIDATION_IDS]
    Dataset.from_dict(columns(rows), features=VALIDATION_FEATURES).save_to_disk(str(root))
    return root


# --- textcaps: train/val/test (test captions withheld), lmms-lab columns ----------------------

TEXTCAPS_FEATURES = Features({
    "question_id": Value("string"), "question": Value("string"), "image": Image(),
    "image_id": Value("string"), "image_classes": STRINGS,
    "flickr_original_url": Value("string"), "flickr_300k_url": Value("string"),
    "image_width": Value("int64"), "image_height": Value("int64"),
    "set_name": Value("string"), "image_name": Value("string"), "image_path": Value("string"),
    "caption_id": DList(Value("int64")), "caption_str": STRINGS, "reference_strs": STRINGS,
})


def textcaps_row(n: int, set_name: str, captions: list[str]) -> dict[str, Any]:
    return {"question_id": str(n), "question": "Describe the image.", "image": cell(png(n)),
            "image_id": f"tc{n:04d}", "image_classes": ["Poster"], "flickr_original_url": "",
            "flickr_300k_url": "", "image_width": 8, "image_height": 8, "set_name": set_name,
            "image_name": f"tc{n:04d}", "image_path": f"{set_name}/tc{n:04d}.jpg",
            "caption_id": list(range(len(captions))), "caption_str": captions,
            "reference_strs": [c.lower() for c in captions]}


def five(n: int) -> list[str]:
    return [f"A sign that says {n} ({k})." for k in range(5)]


def build_textcaps(root: Path) -> Path:
    return write_parquet(root, {
        "train": [textcaps_row(n, "train", five(n)) for n in (1, 2)],
        "val": [textcaps_row(n, "val", five(n)) for n in range(10, 30)],
        "test": [textcaps_row(n, "test", []) for n in (90, 91)],
    }, TEXTCAPS_FEATURES)


HUB_BUILDERS = {"flickr": build_flickr, "coco": build_coco, "pexels": build_pexels,
                "docornot": build_docornot, "validation": build_validation,
                "textcaps": build_textcaps}


# --- folder: imagefolder convention ------------------------------------------------------------


def build_folder_jsonl(root: Path) -> Path:
    """A flat folder (seeded split); each caption column once, a list, a corrupt file, an
    empty caption, and a metadata row whose file is missing."""
    root.mkdir(parents=True, exist_ok=True)
    records = [{"file_name": "a.png", "caption": " A red square. "},
               {"file_name": "b.png", "captions": ["One.", "  ", "Two."]},
               {"file_name": "c.png", "text": "Some text."},
               {"file_name": "d.png", "alt_text": "Alt text."},
               {"file_name": "e.png", "caption": "Corrupt."},
               {"file_name": "f.png", "caption": "   "},
               {"file_name": "missing.png", "caption": "Gone."}]
    for n, record in enumerate(records):
        if record["file_name"] != "missing.png":
            data = CORRUPT if record["file_name"] == "e.png" else png(n)
            (root / record["file_name"]).write_bytes(data)
    with open(root / "metadata.jsonl", "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return root


def build_folder_csv(root: Path) -> Path:
    """Split folders (train/val/test) with metadata.csv; `captions` is a JSON-encoded list."""
    for n, split in enumerate(("train", "val", "test")):
        folder = root / split
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(png(n))
        with open(folder / "metadata.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", "captions"])
            writer.writerow(["x.png", json.dumps([f"{split} one.", f"{split} two."])])
    return root
