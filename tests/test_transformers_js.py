"""Exported folders in stock transformers.js (npm @huggingface/transformers), real Chromium.

The shapes model (decisive logits) is served with both layouts: LLaVA (`AutoProcessor` +
`AutoModelForImageTextToText`, prompt `<image>` + separator) and vision-encoder-decoder (the
one-line `pipeline('image-to-text', ...)` Firefox uses). The page touches only the public
API: `env.allowRemoteModels = false`, `env.allowLocalModels`, a local `localModelPath` and
local `wasmPaths` (the onnxruntime-web that transformers.js depends on); nothing leaves
127.0.0.1.

- fp32, images already at the model's size (64 px): browser token ids == our torch greedy ids.
- Other sizes and modes: transformers.js resizes with a canvas and drops alpha instead of
  compositing on white, so pixels differ from Pillow's; agreement is reported, not asserted.
- INT8 (`q8`) and fp16: run in both layouts, agreement with fp32 in the browser reported;
  the two layouts, running the same quantized weights, give the same tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from browser_harness import run_script, serve
from distilvit.config import GenerationConfig
from distilvit.generate import generate_ids
from distilvit.images import load_image
from distilvit.model import Captioner
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import graph_file
from distilvit.ort.ved import DECODER, VedCaptioner
from distilvit.tokens import until_eos
from tjs_harness import AT_SIZE, HERE, TJS, TJS_ORT, needs_tjs, scenes_folder

LAYOUTS = {"ved": "ved", "llava": "llava"}  # runner -> folder under /models/
DTYPES = ("fp32", "q8", "q4", "fp16")

pytestmark = needs_tjs


@pytest.fixture(scope="module")
def ved_dir(shapes_ved_dir) -> Path:
    """The VED layout, every variant (its parity with torch is tests/test_export_layouts.py's)."""
    return shapes_ved_dir


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return scenes_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def browser(ved_dir, shapes_export_dir, images, tmp_path_factory) -> dict:
    """One page, every layout x dtype over every image; results keyed by (runner, dtype)."""
    mounts = {"/": HERE / "pages", "/tjs/": TJS / "dist", "/ort-tjs/": TJS_ORT,
              "/models/ved/": ved_dir, "/models/llava/": shapes_export_dir, "/images/": images}
    names = sorted(p.name for p in images.iterdir())
    with serve(mounts) as server:
        urls = [f"{server.url}/images/{name}" for name in names]
        runs = [{"runner": runner, "model": model, "dtype": dtype, "urls": urls,
                 "options": {"withPixels": dtype == "fp32"}}
                for dtype in DTYPES for runner, model in LAYOUTS.items()]
        out = run_script(HERE / "captions.mjs", {"url": server.url + "/index.html",
                                                 "runs": runs}, tmp_path_factory.mktemp("tjs"),
                         timeout=600)
        origin = server.url
    results = {}
    for run, result in zip(runs, out["results"], strict=True):
        results[run["runner"], run["dtype"]] = {
            name: result["images"][url] for name, url in zip(names, urls, strict=True)}
    return {"results": results, "requests": out["requests"], "origin": origin, "names": names}


@pytest.fixture(scope="module")
def python_ids(shapes_model_dir, images) -> dict[str, list[int]]:
    """Our torch model's greedy ids (EOS dropped), Pillow preprocessing, per image file."""
    model = Captioner.from_pretrained(shapes_model_dir)
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    names = sorted(p.name for p in images.iterdir())
    pixels = model.preprocess([load_image(images / name) for name in names])
    rows = generate_ids(model, pixels, gen).tolist()
    return {name: until_eos(row, model.format.eos_id) for name, row in zip(names, rows,
                                                                           strict=True)}


def _ids(entry: dict, eos: int) -> list[int]:
    return until_eos(entry["ids"], eos)


@pytest.fixture(scope="module")
def eos(shapes_export_dir) -> int:
    return json.loads((shapes_export_dir / "config.json").read_text())["eos_token_id"]


def agreement(results: dict, reference: dict[str, list[int]], names: list[str], eos: int) -> float:
    return sum(_ids(results[n], eos) == reference[n] for n in names) / len(names)


def test_nothing_leaves_the_local_server(browser):
    local = (browser["origin"] + "/", "blob:" + browser["origin"] + "/")  # blob: the wasm factory
    assert browser["requests"]
    assert [url for url in browser["requests"] if not url.startswith(local)] == []
    assert any(url.endswith("encoder_model_quantized.onnx") for url in browser["requests"])
    assert any(url.endswith("vision_encoder_fp16.onnx") for url in browser["requests"])


@pytest.mark.parametrize("runner", list(LAYOUTS))
def test_fp32_tokens_equal_python_at_the_model_size(browser, python_ids, eos, runner,
                                                    shapes_export_dir):
    results = browser["results"][runner, "fp32"]
    decoder = OnnxCaptioner(shapes_export_dir)
    for name in AT_SIZE:
        assert _ids(results[name], eos) == python_ids[name], name
        # The pipeline's own text is our tokenizer's decoding of those ids.
        assert results[name]["text"] == decoder.decode([results[name]["ids"]])[0]


def test_other_sizes_agreement_is_reported(browser, python_ids, eos, images, shapes_export_dir,
                                          record_property):
    """Reported, not asserted: canvas resizing and alpha handling change the pixels."""
    others = [n for n in browser["names"] if n not in AT_SIZE]
    ours = OnnxCaptioner(shapes_export_dir)
    report = {}
    for name in others:
        browser_pixels = np.asarray(browser["results"]["ved", "fp32"][name]["pixels"])
        pillow_pixels = ours.preprocess([images / name])[0].ravel()
        report[name] = {
            "max_pixel_diff_vs_pillow": round(float(np.abs(browser_pixels - pillow_pixels).max()),
                                              4),
            **{runner: _ids(browser["results"][runner, "fp32"][name], eos) == python_ids[name]
               for runner in LAYOUTS}}
    for name in AT_SIZE:  # at the model's size the browser's pixels are Pillow's
        browser_pixels = np.asarray(browser["results"]["llava", "fp32"][name]["pixels"])
        assert np.abs(browser_pixels - ours.preprocess([images / name])[0].ravel()).max() < 1e-6
    record_property("other_sizes", report)
    print(f"\ntransformers.js fp32 vs Python on other sizes/modes: {json.dumps(report)}")
    for runner in LAYOUTS:  # both layouts see the same pixels, so they agree with each other
        assert all(_ids(browser["results"][runner, "fp32"][n], eos)
                   == _ids(browser["results"]["ved", "fp32"][n], eos) for n in others)


@pytest.mark.parametrize("dtype", ["q8", "q4", "fp16"])
def test_variants_run_and_agreement_with_fp32_is_reported(browser, eos, dtype,
                                                          record_property):
    names = browser["names"]
    rates = {}
    for runner in LAYOUTS:
        variant = browser["results"][runner, dtype]
        assert all(variant[n]["ids"] and variant[n]["text"] for n in names)
        fp32 = {n: _ids(browser["results"][runner, "fp32"][n], eos) for n in names}
        rates[runner] = agreement(variant, fp32, names, eos)
    # Same weights, same kernels: the two layouts pick the same tokens.
    assert all(_ids(browser["results"]["ved", dtype][n], eos)
               == _ids(browser["results"]["llava", dtype][n], eos) for n in names)
    record_property(f"{dtype}_agreement_with_fp32", rates)
    print(f"\ntransformers.js {dtype} greedy ids equal to fp32 (browser) on "
          f"{len(names)} images: {rates}")


def test_ved_q8_with_one_table_equals_python_ort(browser, ved_dir, images, eos):
    """The VED int8 decoder looks tokens up in its LM head's 8-bit MatMulNBits weight (the
    table stored once, export/tables.py); the one-line pipeline runs it and picks Python
    onnxruntime's tokens at the model's size."""
    import onnx

    decoder = onnx.load(str(ved_dir / graph_file(DECODER, "int8")))
    gathered = {n.input[0] for n in decoder.graph.node if n.op_type == "Gather"}
    assert [n for n in decoder.graph.node if n.op_type == "MatMulNBits"
            and {n.input[1], n.input[2]} <= gathered]
    python = VedCaptioner(ved_dir, "int8")
    pixels = python.preprocess([images / name for name in AT_SIZE])
    expected = [until_eos(row, eos) for row in python.generate_ids(
        pixels, python.generation).tolist()]
    got = [_ids(browser["results"]["ved", "q8"][name], eos) for name in AT_SIZE]
    assert got == expected, f"{python.decode(got)} vs {python.decode(expected)}"
