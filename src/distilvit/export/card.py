"""The model card (README.md) `distilvit push` generates from what the folder records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilvit.export.hub import Folder, upload_list

METRICS_FILE = "metrics.json"
VERIFICATION_FILE = "verification.json"

INTENDED_USE = """\
Drafting **alt text** (short image descriptions for people who use screen readers) in
browsers and on servers, with a person reviewing the text before it is published. The model
is small enough to run locally, so images need not leave the user's machine."""

LIMITATIONS = """\
- A captioner learns the patterns of its training captions, including their biases. Image
  caption datasets (COCO, Flickr30k and similar) over-represent some people, places and
  activities, label people's gender from appearance, and describe some groups with different
  words than others. Expect the same here; `gendered_rate` (below, when measured) is the share
  of captions that assign a gender.
- It can name objects that are not there (hallucination), miss what matters to a reader,
  and misread text in images. It does not identify people and must not be used to.
- Small captioners describe what is typical, not what is important: review the alt text of
  images that carry meaning (charts, documents, medical or safety content).
- Not for surveillance, for decisions about people, or for content moderation."""


def model_card(folder: Folder, training_data: str = "", license: str = "apache-2.0",
               title: str = "") -> str:
    cap = folder.captioner
    encoder, decoder = cap["encoder"]["name_or_path"], cap["decoder"]["name_or_path"]
    bases = [name for name in (encoder, decoder) if _is_hub_id(name)]
    tags = ["image-captioning", "alt-text", "distilvit"] + (
        ["onnx", "transformers.js"] if folder.kind == "export" else [])
    front = ["---", f"license: {license}", "pipeline_tag: image-to-text",
             "library_name: " + ("transformers.js" if folder.kind == "export" else "distilvit"),
             "tags:", *[f"- {t}" for t in tags]]
    if bases:
        front += ["base_model:", *[f"- {b}" for b in bases]]
    front.append("---")
    sections = [
        f"# {title or folder.path.resolve().name}",
        "An image captioner for alt text, built with distilvit: a frozen vision tower whose "
        "patch features are projected into a small language model's embedding space and used "
        "as its prompt (prefix conditioning, no cross-attention).",
        "## Architecture\n" + _architecture(folder),
        "## Base models\n" + f"- vision tower: `{encoder}`\n- language model: `{decoder}`",
        "## Training data\n" + (training_data or "Not recorded in this folder; describe the "
                                "datasets before publishing (`--training-data`)."),
        "## Evaluation\n" + _evaluation(folder.path),
        "## Intended use\n" + INTENDED_USE,
        "## Known biases and limitations\n" + LIMITATIONS,
        "## Files\n" + _files(folder),
        "## How to use\n" + _usage(folder),
    ]
    return "\n".join(front) + "\n\n" + "\n\n".join(sections) + "\n"


def _is_hub_id(name: str) -> bool:
    return "/" in name and not name.startswith(("/", ".", "builtin:")) and not Path(name).exists()


def _architecture(folder: Folder) -> str:
    cap = folder.captioner
    proj, lora = cap["projector"], cap["lora"]
    rows = [("vision tower", f"`{cap['encoder']['name_or_path']}` (frozen"
             + (f", last {cap['encoder']['unfreeze_last_n_layers']} layers trained)"
                if cap["encoder"].get("unfreeze_last_n_layers") else ")")),
            ("projector", f"{proj['type']}, pixel shuffle k={proj['pixel_shuffle_factor']}"),
            ("language model", f"`{cap['decoder']['name_or_path']}`"),
            ("LoRA", f"r={lora['r']}, alpha={lora['alpha']}" + (
                ", merged into the weights" if folder.kind == "export" else "")
             if lora["r"] else "none")]
    if folder.export:
        e = folder.export
        rows += [("prefix tokens", str(e["prefix_tokens"])),
                 ("decoder", f"{e['family']}, {e['num_hidden_layers']} layers, hidden "
                             f"{e['hidden_size']}, {e['num_key_value_heads']} KV heads"),
                 ("ONNX", f"opset {e['opset']}; variants: {', '.join(e['variants'])}")]
    return "| part | |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)


def _evaluation(path: Path) -> str:
    parts = []
    if (path / METRICS_FILE).is_file():
        metrics = json.loads((path / METRICS_FILE).read_text())
        rows = [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
        parts.append("| metric | value |\n| --- | --- |\n" + "\n".join(rows))
    if (path / VERIFICATION_FILE).is_file():
        report = json.loads((path / VERIFICATION_FILE).read_text())
        n = len(report["images"])
        rows = [f"| {c['variant']} | {c['max_logit_diff']:.2e} | "
                f"{round(c['agreement'] * n)}/{n} |" for c in report["checks"]]
        parts.append("ONNX Runtime against the torch model (greedy decoding):\n\n"
                     "| variant | max logit diff | captions equal to torch |\n| --- | --- | --- |\n"
                     + "\n".join(rows))
    return "\n\n".join(parts) or f"No {METRICS_FILE} in this folder (`make eval` writes one)."


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _files(folder: Folder) -> str:
    return "\n".join(f"- `{rel}` ({human_size(size)})" for rel, size in upload_list(folder))


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _transformers_js_usage(folder: Folder) -> str:
    if folder.export.get("layout") != "vision-encoder-decoder":
        return ""
    return ("\n\nIn a web page, with transformers.js (see distilvit's docs/transformers-js.md):\n"
            "```js\nimport { pipeline } from '@huggingface/transformers';\n"
            "const captioner = await pipeline('image-to-text', 'ORG/NAME', { dtype: 'q8' });\n"
            "const [{ generated_text }] = await captioner(imageUrl);\n```")


def _usage(folder: Folder) -> str:
    if folder.kind == "export":
        variant = "int8" if "int8" in folder.export["variants"] else "fp32"
        return ("```\npip install \"distilvit[onnx]\"\ndistilvit caption . photo.jpg "
                f"--onnx-variant {variant}\n```\nor in Python, with onnxruntime and no torch:\n"
                "```python\nfrom distilvit.ort import open_captioner\n"
                f"open_captioner(\".\", variant=\"{variant}\").caption([\"photo.jpg\"])\n```"
                + _transformers_js_usage(folder))
    return "```\npip install distilvit\ndistilvit caption . photo.jpg\n```"
