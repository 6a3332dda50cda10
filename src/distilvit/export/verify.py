"""Parity of an exported folder with the torch model it came from.

fp32 must match: first-step logits within `tolerance` of torch's and the same greedy tokens
on every sample image, else `ParityError` (one line, exit 1). INT8, q4 and fp16 round
differently by design, so for them the check reports how many greedy captions agree with
torch. With a dataset named, every variant captions all `verify_samples` test images: the
share of captions identical to torch's and the change of the test-split metrics, measured on
the same captions. A variant whose identical-caption rate on those images falls below
`min_identical` fails the export (`FidelityError`, one line, exit 1): four sample images say
nothing about fidelity (a real LM's INT8 export agreed on 0 of 4 and on 48 of 100 scenes).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from distilvit.config import ExportConfig, GenerationConfig
from distilvit.errors import DistilvitError
from distilvit.generate import generate_ids, prompt_embeddings
from distilvit.images import describe, load_image
from distilvit.model.captioner import Captioner
from distilvit.model.lora import causal_lm
from distilvit.tokens import until_eos

REPORT_FILE = "verification.json"
METRICS_SHOWN = ("attribute_accuracy", "strict_accuracy", "cider", "bleu4")


class ParityError(DistilvitError):
    """The fp32 graphs do not reproduce the torch model."""


class FidelityError(DistilvitError):
    """A quantized variant's captions differ from torch's too often to ship."""


@dataclass
class VariantCheck:
    variant: str
    max_logit_diff: float  # max |ORT - torch| over the first-step logits of every image
    agreement: float  # share of images whose greedy tokens equal torch's
    captions: list[str]
    metric_change: dict[str, float] = field(default_factory=dict)  # ORT - torch
    identical: float | None = None  # share of dataset captions equal to torch's (None: no data)


@dataclass
class Verification:
    images: list[str]
    tolerance: float
    max_pixel_diff: float  # our Pillow preprocessing vs the torch path's image processor
    torch_captions: list[str]
    checks: list[VariantCheck]
    torch_metrics: dict[str, float] = field(default_factory=dict)
    dataset_images: int = 0  # test images each variant captioned (0: no --verify-dataset)

    def lines(self) -> list[str]:
        out = [f"verified on {len(self.images)} images (preprocessing max diff "
               f"{self.max_pixel_diff:.1e}, logit tolerance {self.tolerance:.0e}):"]
        for c in self.checks:
            agree = round(c.agreement * len(self.images))
            line = (f"  {c.variant:<5} max |logit diff| {c.max_logit_diff:.2e}  greedy captions "
                    f"equal to torch: {agree}/{len(self.images)}")
            changes = [f"{k} {v:+.4f}" for k, v in c.metric_change.items()]
            out.append(line + (f"  metric change: {', '.join(changes)}" if changes else ""))
        if self.dataset_images:
            out.append(f"identical captions to torch on {self.dataset_images} test images: "
                       + ", ".join(f"{c.variant} {c.identical:.1%}" for c in self.checks))
        return out

    def below(self, min_identical: float) -> list[VariantCheck]:
        """Variants whose dataset identical-caption rate is under `min_identical`."""
        return [c for c in self.checks if c.identical is not None
                and not c.identical >= min_identical]


def sample_images() -> dict[str, Image.Image]:
    """Deterministic inputs covering the modes users send: RGB, RGBA, grayscale, non-square."""
    rng = np.random.default_rng(0)
    scene = Image.new("RGB", (96, 64), "white")
    draw = ImageDraw.Draw(scene)
    draw.ellipse((8, 8, 40, 40), fill="red")
    draw.rectangle((52, 20, 88, 56), fill="blue")
    alpha = np.linspace(0, 255, 48 * 48).reshape(48, 48).astype(np.uint8)
    rgba = np.dstack([rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), alpha])
    gray = np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (72, 1))
    return {"<sample rgb 96x64>": scene,
            "<sample rgba 48x48>": Image.fromarray(rgba, "RGBA"),
            "<sample grayscale 40x72>": Image.fromarray(gray, "L"),
            "<sample noise 50x30>": Image.fromarray(
                rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))}


@torch.inference_mode()
def torch_first_logits(model: Captioner, pixel_values: torch.Tensor) -> np.ndarray:
    """Logits of the first caption token [B, V], as the exported decoder computes them."""
    embeds = prompt_embeddings(model, model.image_prefix(pixel_values))
    logits = causal_lm(model.lm)(inputs_embeds=embeds, logits_to_keep=1).logits
    return logits[:, -1].float().cpu().numpy()


def verify_export(model: Captioner, folder: str | Path, cfg: ExportConfig | None = None,
                  variants: list[str] | None = None, runner: type | None = None) -> Verification:
    """Compare `variants` (default: all in `folder`) with `model`; ParityError if fp32 differs.

    `runner` is the ONNX Runtime captioner class of the folder's layout (default
    `OnnxCaptioner`, the llava layout): anything with `preprocess`, `prefill`, `generate_ids`,
    `decode` and `caption`.
    """
    from distilvit.ort.captioner import OnnxCaptioner

    runner = runner or OnnxCaptioner
    cfg = cfg or ExportConfig()
    images = ({describe(p): load_image(p) for p in cfg.verify_images} if cfg.verify_images
              else {name: load_image(image) for name, image in sample_images().items()})
    names, rgb = list(images), list(images.values())
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    eos = model.format.eos_id
    pixels = model.preprocess(rgb)
    reference = torch_first_logits(model, pixels)
    torch_ids = [until_eos(r, eos) for r in generate_ids(model, pixels, gen).tolist()]
    checks, pixel_diff = [], 0.0
    for variant in variants or runner.available_variants(folder):
        onnx = runner(folder, variant)
        onnx_pixels = onnx.preprocess(rgb)
        pixel_diff = max(pixel_diff, float(np.abs(onnx_pixels - pixels.numpy()).max()))
        diff = float(np.abs(onnx.prefill(onnx_pixels)[0] - reference).max())
        ids = [until_eos(r, eos) for r in onnx.generate_ids(onnx_pixels, gen).tolist()]
        if variant == "fp32":
            _check_fp32(folder, names, diff, cfg.tolerance, ids, torch_ids)
        same = sum(a == b for a, b in zip(ids, torch_ids, strict=True))
        checks.append(VariantCheck(variant, diff, same / len(names), onnx.decode(ids)))
    report = Verification(names, cfg.tolerance, pixel_diff,
                          [model.tokenizer.decode(r, skip_special_tokens=True).strip()
                           for r in torch_ids], checks)
    if cfg.verify_dataset:
        _dataset_fidelity(model, folder, cfg, gen, report, runner)
    (Path(folder) / REPORT_FILE).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def check_fidelity(report: Verification, min_identical: float) -> None:
    """FidelityError (one line) naming every variant below `min_identical`."""
    failed = report.below(min_identical)
    if failed:
        rates = ", ".join(f"{c.variant} {c.identical:.1%}" for c in failed)
        raise FidelityError(
            f"captions identical to torch on {report.dataset_images} test images below "
            f"--min-identical {min_identical:.0%}: {rates}; do not ship these variants (see "
            "docs/onnx-export.md, quantization)")


def _check_fp32(folder, names: list[str], diff: float, tolerance: float,
                ids: list[list[int]], torch_ids: list[list[int]]) -> None:
    if not diff <= tolerance:  # also catches NaN
        raise ParityError(f"{folder}: fp32 first-step logits differ from torch by {diff:.2e} "
                          f"(tolerance {tolerance:.0e}); the export is wrong, do not ship it")
    for name, got, want in zip(names, ids, torch_ids, strict=True):
        if got != want:
            step = next((i for i, (a, b) in enumerate(zip(got, want, strict=False))
                         if a != b),
                        min(len(got), len(want)))
            raise ParityError(f"{folder}: fp32 greedy tokens differ from torch on {name} at "
                              f"step {step} ({got[step:step + 3]} vs {want[step:step + 3]})")


def _dataset_fidelity(model: Captioner, folder, cfg: ExportConfig, gen: GenerationConfig,
                      report: Verification, runner: type) -> None:
    """Each variant's identical-caption rate and metric change on `verify_samples` test images
    of `verify_dataset`, both from one greedy run per variant."""
    from distilvit.data.features import DataSpec, read_split
    from distilvit.eval.evaluate import caption_rows, score
    from distilvit.eval.metrics import one_meteor

    spec = DataSpec(datasets=(cfg.verify_dataset,), split="test", sample=cfg.verify_samples)
    data = read_split(spec)
    rows = list(range(len(data)))
    reference = caption_rows(model, data, gen, progress=False)
    with one_meteor():  # torch and every variant scored in one METEOR JVM (seconds each)
        report.torch_metrics = _shown(score(reference, data, rows))
        report.dataset_images = len(rows)
        for check in report.checks:
            onnx = runner(folder, check.variant)
            predictions = caption_rows(onnx, data, gen, 32, progress=False)
            check.identical = sum(a == b for a, b in zip(predictions, reference, strict=True)
                                  ) / len(rows)
            metrics = _shown(score(predictions, data, rows))
            check.metric_change = {k: metrics[k] - v for k, v in report.torch_metrics.items()
                                   if k in metrics}


def _shown(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(metrics[k]) for k in METRICS_SHOWN if metrics.get(k) is not None}
