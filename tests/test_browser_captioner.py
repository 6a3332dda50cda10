"""The web module in real Chromium against the Python ONNX Runtime backend.

The tiny preset trained briefly on `shapes` (decisive logits) is exported once per session;
the browser must produce Python's greedy tokens and bit-identical pixel values for photo-like,
hard-edged, RGBA, grayscale, JPEG and non-square images, in fp32, INT8 and q4, with WASM threads
when the page is cross-origin isolated and one thread when it is not. Model files come from
the Cache API after the first download; Hub ids resolve to `/<id>/resolve/main/`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_harness import ORT_DIST, SCRIPTS, WEB_DIR, needs_browser, run_script, serve
from distilvit.config import ShapesConfig
from distilvit.data.synthetic import make_example
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import GRAPHS, graph_file
from distilvit.tokens import until_eos

pytestmark = needs_browser
HUB_ID = "test-org/tiny-shapes"
BEAMS = 3
BEAM_IMAGES = ["/images/photo.png", "/images/rgba.png"]


def scene(index: int, size: int = 160) -> Image.Image:
    return make_example("test", index, ShapesConfig(image_size=size)).image


def write_images(folder: Path) -> list[str]:
    """Inputs that stress decoding, compositing and resizing differently; file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = np.asarray(scene(0, 192)).astype(np.float64)
    y, x = np.mgrid[0:192, 0:192]
    shading = 25 * np.sin(x / 23.0)[..., None] + 20 * np.cos(y / 31.0)[..., None]
    photo = np.clip(base + shading + rng.normal(0, 9, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(photo).save(folder / "photo.png")
    Image.fromarray(photo).save(folder / "photo.jpg", quality=90)
    scene(1, 64).resize((192, 192), Image.Resampling.NEAREST).save(folder / "hard-edged.png")
    rgba = scene(2, 96).convert("RGBA")
    rgba.putalpha(Image.fromarray((np.arange(96 * 96) % 256).reshape(96, 96).astype(np.uint8)))
    rgba.save(folder / "rgba.png")
    scene(3, 120).convert("L").crop((0, 10, 120, 90)).save(folder / "gray.png")
    scene(4, 160).resize((230, 90), Image.Resampling.BILINEAR).save(folder / "wide.png")
    scene(5, 160).crop((40, 0, 80, 160)).save(folder / "tall-small.png")  # upscaled width
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-images")
    write_images(folder)
    return folder


def mounts(export_dir: Path, images: Path, **extra: Path) -> dict[str, Path]:
    return {"/": WEB_DIR, "/ort/": ORT_DIST, "/model/": export_dir, "/images/": images,
            "/tests/": SCRIPTS / "pages", **extra}


def python_reference(export_dir: Path, images: Path, dtype: str) -> dict[str, dict]:
    model = OnnxCaptioner(export_dir, dtype)
    beam = dataclasses.replace(model.generation, num_beams=BEAMS)
    out = {}
    for path in sorted(images.iterdir()):
        pixels = model.preprocess([path])
        ids = model.generate_ids(pixels, model.generation)[0].tolist()
        out[f"/images/{path.name}"] = {
            "tokens": ids, "pixels": pixels, "caption": model.decode([ids])[0],
            "eos": model.meta["eos_id"],
            "beam": until_eos(model.generate_ids(pixels, beam)[0].tolist(), model.meta["eos_id"])
            if f"/images/{path.name}" in BEAM_IMAGES else None}
    return out


@pytest.fixture(scope="module")
def isolated_run(shapes_export_dir, images, tmp_path_factory) -> dict:
    """Every image captioned in fp32, INT8 and q4 on one cross-origin isolated page."""
    names = [f"/images/{p.name}" for p in sorted(images.iterdir())]
    with serve(mounts(shapes_export_dir, images), isolated=True) as server:
        return run_script(SCRIPTS / "parity.mjs",
                          {"url": f"{server.url}/tests/module.html", "model": "/model/",
                           "dtypes": ["fp32", "int8", "q4"], "images": names, "beams": BEAMS,
                           "beamImages": BEAM_IMAGES},
                          tmp_path_factory.mktemp("parity"), timeout=100)


@pytest.mark.parametrize("dtype", ["fp32", "int8", "q4"])
def test_browser_greedy_tokens_equal_python_ort(isolated_run, shapes_export_dir, images, dtype):
    expected = python_reference(shapes_export_dir, images, dtype)
    browser = isolated_run["dtypes"][dtype]
    assert browser["info"]["dtype"] == dtype and browser["info"]["device"] == "wasm"
    assert set(browser["images"]) == set(expected)
    for name, want in expected.items():
        got = browser["images"][name]
        pixels = np.asarray(got["pixels"], dtype=np.float32).reshape(want["pixels"].shape)
        assert np.array_equal(pixels, want["pixels"]), f"{dtype} {name}: pixel values differ"
        assert got["tokens"] == want["tokens"], f"{dtype} {name}"
        assert got["caption"] == want["caption"] and got["caption"], f"{dtype} {name}"
        if name in BEAM_IMAGES:
            assert until_eos(got["beam"], want["eos"]) == want["beam"], f"{dtype} {name} beams"
    assert browser["concurrent"] == [browser["images"][name]["tokens"] for name in expected]
    assert len({v["caption"] for v in browser["images"].values()}) > 3, \
        "different scenes should get different captions"


def test_threads_used_when_cross_origin_isolated(isolated_run):
    """onnxruntime-web's default on an isolated page: hardware threads (at most 4), run by
    pthread workers. The same page without COOP/COEP is in the cache test (one thread)."""
    cores = isolated_run["hardwareConcurrency"]
    for dtype in ("fp32", "int8"):
        info = isolated_run["dtypes"][dtype]["info"]
        assert info["crossOriginIsolated"] is True
        assert info["threads"] == max(1, min(4, cores))
    if cores > 1:
        assert any("ort-wasm-simd-threaded" in url for url in isolated_run["workers"]), \
            isolated_run["workers"]


def test_webgpu_when_an_adapter_exists(shapes_export_dir, images, tmp_path):
    """Chromium's software WebGPU (~100x slower than WASM here): two tokens (the prompt
    step and one cached step) check every graph on it."""
    tokens = 2
    model = OnnxCaptioner(shapes_export_dir, "fp32")
    pixels = model.preprocess([images / "photo.png"])
    expected = model.generate_ids(pixels, dataclasses.replace(model.generation,
                                                              max_new_tokens=tokens))
    with serve(mounts(shapes_export_dir, images)) as server:
        out = run_script(SCRIPTS / "webgpu.mjs",
                         {"url": f"{server.url}/tests/module.html", "model": "/model/",
                          "image": "/images/photo.png", "maxNewTokens": tokens},
                         tmp_path, timeout=100, flags=("--enable-unsafe-webgpu",))
    assert out["adapter"] is True
    assert out["fp32"] == {"device": "webgpu", "tokens": expected[0].tolist()}
    assert out["int8"] == {"device": "wasm"}


def test_cache_hub_urls_and_download_errors(shapes_export_dir, images, tmp_path):
    hub_root = f"/hub/{HUB_ID}/resolve/main/"
    redirects = {hub_root + "onnx/": "/cas/onnx/"}  # like the Hub: LFS files redirect
    extra = {hub_root.rstrip("/"): shapes_export_dir, "/cas/": shapes_export_dir}
    with serve(mounts(shapes_export_dir, images, **extra), isolated=False,
               redirects=redirects) as server:
        steps = run_script(SCRIPTS / "cache_hub.mjs",
                           {"url": f"{server.url}/tests/module.html", "model": "/model/",
                            "image": "/images/photo.png", "hubUrl": f"{server.url}/hub",
                            "hubId": HUB_ID, "missingHubId": "test-org/missing"},
                           tmp_path, timeout=100)
        served = {g: len(server.served("/model/" + graph_file(g, "int8"))) for g in GRAPHS}
        served_hub = {g: len(server.served("/cas/" + graph_file(g, "int8"))) for g in GRAPHS}
    caption = steps["first"]["caption"]
    assert caption and all(steps[s]["caption"] == caption for s in ("reload", "evicted", "hub"))
    # Not isolated: one thread, no worker threads.
    assert steps["first"]["isolated"] is False and steps["first"]["info"]["threads"] == 1
    assert steps["first"]["workers"] == []
    # First load downloads the three graphs; a reload reads them from the Cache API only.
    assert len(steps["first"]["onnx"]) == 3 and steps["first"]["info"]["fromCache"] is False
    assert steps["reload"]["onnx"] == [] and steps["reload"]["info"]["fromCache"] is True
    # Evicted: downloaded again. The server agrees: each graph sent exactly twice.
    assert len(steps["evicted"]["onnx"]) == 3 and steps["evicted"]["info"]["fromCache"] is False
    assert served == {g: 2 for g in GRAPHS}
    # Hub: resolve URLs (redirected, as the Hub does), cached under the resolve URL.
    assert steps["hub"]["info"]["baseUrl"] == f"{steps['resolved']['page'].split('/tests/')[0]}" \
        f"{hub_root}"
    assert served_hub == {g: 1 for g in GRAPHS} and steps["hubAgain"]["onnx"] == []
    resolved = steps["resolved"]
    origin = resolved["page"].split("/tests/")[0]
    assert resolved["hub"] == f"{origin}/hub/org/name/resolve/main/"
    assert resolved["revision"] == f"{origin}/hub/org/name/resolve/v1.0/"
    assert resolved["defaultHub"] == "https://huggingface.co/org/name/resolve/main/"
    assert resolved["url"] == "https://example.org/models/x/"
    assert resolved["absolute"] == f"{origin}/models/x/"
    assert resolved["relative"] == f"{origin}/tests/models/x/"
    assert resolved["single"] == f"{origin}/tests/model/"
    missing = steps["missing"]
    assert missing["name"] == "DownloadError"
    assert "/hub/test-org/missing/resolve/main/config.json" in missing["message"]
    assert "HTTP 404" in missing["message"]
