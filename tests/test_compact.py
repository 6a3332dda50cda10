"""The `compact` preset's path: a GPT-2-family prefix LM (DistilGPT-2 in the real preset).

Nothing is downloaded: the preset is trained with `--decoder-model` pointing at a tiny GPT-2
(random weights, the session's locally trained byte-level tokenizer: no pad token of its own,
`<|endoftext|>` is BOS, EOS and pad) and `--encoder-model` at the tiny SigLIP tower.
Invariants: the loss falls; LoRA sits on every Conv1D and merges exactly; both ONNX layouts'
fp32 greedy tokens are torch's, with GPT-2's cache shape; stock transformers.js's
`pipeline('image-to-text')` gives Python ONNX Runtime's tokens; a sequence longer than the
learned position table is a one-line error, not an index error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from browser_harness import NODE_MODULES, needs_browser, run_script, serve
from distilvit import bases
from distilvit.cli import main
from distilvit.config import GenerationConfig, ShapesConfig, preset
from distilvit.data.synthetic import make_example
from distilvit.errors import ConfigError
from distilvit.generate import generate_ids
from distilvit.model import Captioner
from distilvit.model.lora import causal_lm, merge_lora
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import graph_file
from distilvit.ort.ved import DECODER, VedCaptioner
from distilvit.tokens import until_eos

PAGES = Path(__file__).resolve().parent / "transformersjs"
TJS = NODE_MODULES / "@huggingface" / "transformers"
STEPS = 40
GREEDY = GenerationConfig(max_new_tokens=10)


def test_the_preset_is_distilgpt2_on_siglip_base():
    config = preset("compact")
    assert config.decoder.name_or_path == "distilbert/distilgpt2"
    assert config.encoder.name_or_path == "google/siglip-base-patch16-224"
    assert config.projector.pixel_shuffle_factor == 2  # 196 patches -> 49 prefix tokens
    assert config.lora.target_modules == "all-linear"


@pytest.fixture(scope="module")
def compact_dir(tmp_path_factory, vision_dir, lm_dirs) -> Path:
    """`distilvit train --preset compact` on shapes with the tiny tower and tiny GPT-2."""
    out = tmp_path_factory.mktemp("compact")
    code = main(["train", "--preset", "compact", "--encoder-model", str(vision_dir),
                 "--decoder-model", str(lm_dirs["gpt2"]), "--dataset", "shapes", "--sample",
                 "320", "--max-steps", str(STEPS), "--batch-size", "16", "--precision", "fp32",
                 "--projection-lr", "0.005", "--lora-lr", "0.003", "--log-every", "1",
                 "--max-length", "16",
                 "--output-dir", str(out), "--cache-dir", str(out / "cache"),
                 "--no-final-eval", "--checkpoint-every", "0", "--seed", "0"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def model(compact_dir) -> Captioner:
    return Captioner.from_pretrained(compact_dir)


@pytest.fixture(scope="module")
def pixels(model) -> torch.Tensor:
    return model.preprocess([make_example("test", i, ShapesConfig()).image for i in range(6)])


def test_loss_falls_and_lora_is_on_every_conv1d(compact_dir, model):
    rows = [json.loads(line) for line in (compact_dir / "log.jsonl").read_text().splitlines()]
    losses = [r["caption_loss"] for r in rows if "caption_loss" in r]
    assert len(losses) >= STEPS - 1
    # a random tiny LM (tied, near-zero embeddings) learns slowly: 5.6 -> ~5.3 in 40 steps
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.15, losses
    lm = causal_lm(model.lm)
    adapted = {n.rsplit(".lora_A", 1)[0] for n in model.trainable_parameters() if ".lora_A" in n}
    layers = lm.config.n_layer
    expected = {f"lm.base_model.model.transformer.h.{i}.{m}" for i in range(layers)
                for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")}
    assert adapted == expected  # every Conv1D, not the tied LM head


def test_merged_lora_equals_unmerged_for_conv1d(vision_dir, lm_dirs, images):
    """GPT-2 stores Conv1D weights transposed (fan_in_fan_out): merging must fold them right."""
    config = preset("compact")
    config.encoder.name_or_path, config.decoder.name_or_path = str(vision_dir), str(lm_dirs["gpt2"])
    model = Captioner.build(config).eval()
    with torch.no_grad():
        for name, param in model.trainable_parameters().items():
            if "lora_B" in name:
                param.normal_(0, 0.2)
    text = model.format.encode(model.tokenizer, ["a red circle", "two blue stars"])
    pixels = model.preprocess(images[:2])
    with torch.no_grad():
        before = model(text.input_ids, text.attention_mask, pixel_values=pixels).logits
        model.lm = merge_lora(model.lm)
        after = model(text.input_ids, text.attention_mask, pixel_values=pixels).logits
    assert not any("lora_" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module", params=["llava", "vision-encoder-decoder"])
def export_dir(request, compact_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(f"compact-{request.param}")
    code = main(["export", str(compact_dir), "--output-dir", str(out), "--layout",
                 request.param, "--quantize", "int8"])
    assert code == 0  # the export's own check: fp32 logits and greedy tokens equal torch's
    return out


def test_exports_give_torchs_greedy_tokens_with_gpt2_cache_shapes(export_dir, model, pixels):
    runner = (VedCaptioner if "vision-encoder-decoder" in export_dir.name else OnnxCaptioner)
    fp32 = runner(export_dir, "fp32")
    eos = model.format.eos_id
    expected = [until_eos(r, eos) for r in generate_ids(model, pixels, GREEDY).tolist()]
    got = [until_eos(r, eos) for r in fp32.generate_ids(pixels.numpy(), GREEDY).tolist()]
    assert got == expected
    assert len({t for row in expected for t in row}) > 1  # not one token everywhere
    lm = causal_lm(model.lm).config
    shapes = {i.name: i.shape for i in _decoder_inputs(export_dir)}
    assert shapes["past_key_values.0.key"] == ["batch_size", lm.n_head, "past_sequence_length",
                                               lm.n_embd // lm.n_head]
    assert len([n for n in shapes if n.startswith("past_key_values.")]) == 2 * lm.n_layer
    int8 = runner(export_dir, "int8").generate_ids(pixels.numpy(), GREEDY)
    assert int8.shape[0] == len(expected)
    # Conv1D exported as MatMul (a Gemm would stay fp32): 4 weights a layer + the LM head
    ops = [n.op_type for n in onnx.load(str(export_dir / graph_file(DECODER, "int8"))).graph.node]
    assert "Gemm" not in ops and ops.count("MatMulNBits") == 4 * lm.n_layer + 1


def _decoder_inputs(folder: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(folder / graph_file(DECODER, "fp32"))).get_inputs()


def test_a_sequence_past_the_position_table_is_one_clear_error(tmp_path, vision_dir, tokenizer,
                                                               capsys):
    short = bases.save_language_model(tmp_path / "gpt2-short", bases.lm_config(
        "gpt2", tokenizer, hidden=32, heads=2, n_positions=12), tokenizer)
    config = preset("compact")
    config.encoder.name_or_path, config.decoder.name_or_path = str(vision_dir), str(short)
    config.max_length = config.generation.max_new_tokens = 6  # 4 prefix + 1 + 6 <= 12: fits
    model = Captioner.build(config).eval()
    with pytest.raises(ConfigError, match="--max-new-tokens 9 makes sequences of 13 positions"):
        generate_ids(model, torch.zeros(1, 3, 32, 32), GenerationConfig(max_new_tokens=9))
    code = main(["train", "--preset", "compact", "--encoder-model", str(vision_dir),
                 "--decoder-model", str(short), "--dataset", "shapes", "--sample", "8",
                 "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "12 learned positions" in err[0], err


@needs_browser
@pytest.mark.skipif(not (TJS / "dist" / "transformers.js").is_file(),
                    reason="@huggingface/transformers is not installed (npm install)")
def test_stock_transformers_js_pipeline_gives_python_ort_tokens(compact_dir, model, tmp_path):
    """The VED export of the GPT-2 captioner in `pipeline('image-to-text')`, fp32 and q8."""
    folder = tmp_path / "export"
    assert main(["export", str(compact_dir), "--output-dir", str(folder), "--layout",
                 "vision-encoder-decoder", "--quantize", "int8", "--no-verify"]) == 0
    side = model.encoder.tower.config.image_size
    for i in range(3):  # at the model's size: the browser's pixels are Pillow's
        make_example("test", i, ShapesConfig(image_size=side)).image.save(tmp_path / f"{i}.png")
    mounts = {"/": PAGES / "pages", "/tjs/": TJS / "dist",
              "/ort-tjs/": TJS / "node_modules" / "onnxruntime-web" / "dist",
              "/models/compact/": folder, "/images/": tmp_path}
    with serve(mounts) as server:
        urls = [f"{server.url}/images/{i}.png" for i in range(3)]
        runs = [{"runner": "ved", "model": "compact", "dtype": dtype, "urls": urls,
                 "options": {}} for dtype in ("fp32", "q8")]
        out = run_script(PAGES / "captions.mjs", {"url": server.url + "/index.html",
                                                  "runs": runs}, tmp_path / "browser",
                         timeout=300)
    eos = model.format.eos_id
    images = [Image.open(tmp_path / f"{i}.png") for i in range(3)]
    for result, variant in zip(out["results"], ("fp32", "int8"), strict=True):
        python = VedCaptioner(folder, variant)
        expected = [until_eos(r, eos) for r in python.generate_ids(
            python.preprocess(images), python.generation).tolist()]
        got = [until_eos(result["images"][url]["ids"], eos) for url in urls]
        assert got == expected and any(got), variant
