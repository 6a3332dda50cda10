"""The pieces of bench/architecture_comparison.py at tiny shapes, so the bench cannot rot.

The old design's export must be what transformers.js runs (names, cache layout) and give
torch's tokens; the seed's design must train what the seed trained, the way it did.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from browser_harness import NODE_MODULES, needs_browser, run_script, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import old_design  # noqa: E402
import original_design  # noqa: E402

PAGES = Path(__file__).resolve().parent / "transformersjs"

VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
           image_size=32, patch_size=8)
# A wide initialiser: random tiny models otherwise repeat one token, which proves little.
GPT2 = dict(vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=2,
            initializer_range=0.5)
LLAMA = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
             tie_word_embeddings=True)


@pytest.fixture(scope="module")
def old_export(tmp_path_factory):
    model = old_design.build_old(VIT, GPT2)
    folder = tmp_path_factory.mktemp("old")
    variants = old_design.export_old(model, folder, quantize="int8")
    return model, folder, variants


def test_old_export_is_the_transformers_js_layout(old_export):
    _, folder, variants = old_export
    assert variants == ["fp32", "int8"]
    for name in ("encoder_model", "encoder_model_quantized", "decoder_model_merged",
                 "decoder_model_merged_quantized"):
        assert (folder / "onnx" / f"{name}.onnx").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "vision-encoder-decoder"
    assert config["decoder"]["add_cross_attention"]
    session = old_design.OldOnnx(folder, "fp32").decoder
    names = [i.name for i in session.get_inputs()]
    # transformers.js caches only self-attention for a GPT-2 decoder (no `.encoder.` entries)
    assert names == ["input_ids", "encoder_hidden_states",
                     *old_design.cache_names(GPT2["n_layer"], "past_key_values")]


def test_old_export_gives_torchs_tokens(old_export):
    model, folder, _ = old_export
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    expected = old_design.torch_greedy(model, pixels, 12).numpy()
    got = old_design.OldOnnx(folder, "fp32").generate_ids(pixels.numpy(), 12)
    assert len(set(expected.ravel().tolist())) > 3  # not one repeated token
    np.testing.assert_array_equal(got, expected)
    assert old_design.OldOnnx(folder, "int8").generate_ids(pixels.numpy(), 12).shape == (2, 12)


def test_old_training_updates_every_weight():
    model = old_design.build_old(VIT, GPT2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = old_design.OldTrainer(model)
    batch = original_design.random_batch(2, image_size=32, tokens=6)
    trainer.step(**batch)
    counts = original_design.parameter_counts(model)
    assert counts["trainable"] == counts["total"]
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    # the ViT pooler is not on the loss path: every other weight moves
    assert set(before) - set(changed) == {"encoder.pooler.dense.weight", "encoder.pooler.dense.bias"}


@pytest.fixture()
def original():
    return original_design.build_original(VIT, LLAMA)


def test_original_trains_projector_and_lora_only(original):
    counts = original_design.parameter_counts(original)
    lora = sum(p.numel() for n, p in original.named_parameters() if "lora_" in n)
    assert counts["trainable"] == lora + 32 * 32 + 32  # + Linear(32, 32)
    s = original.settings
    assert (s.lora_alpha, s.lora_dropout, s.weight_decay, s.max_grad_norm) == (16, 0.1, 0.01, 1.0)
    assert original.language_model.get_base_model().is_gradient_checkpointing
    assert original.vision_encoder.config.vision_use_head  # SigLIP's pooling head kept
    tower = {n: p.detach().clone() for n, p in original.vision_encoder.named_parameters()}
    trainer = original_design.SeedTrainer(original)
    batch = original_design.random_batch(2, image_size=32, tokens=6)
    for _ in range(2):  # the cosine schedule's warm-up makes the first step's lr 0
        trainer.step(**batch)
    assert all(torch.equal(p, tower[n]) for n, p in original.vision_encoder.named_parameters())
    assert trainer.scheduler.get_last_lr()[1] > 0


def test_original_loss_is_the_caption_positions_of_the_whole_sequence(original):
    original.eval()
    batch = original_design.random_batch(2, image_size=32, tokens=6)
    loss = original(**batch)
    prefix = original.prefix(batch["pixel_values"])
    embeds = torch.cat([prefix, original.language_model.get_input_embeddings()(
        batch["input_ids"])], dim=1)
    logits = original.language_model(inputs_embeds=embeds).logits
    assert logits.shape[1] == prefix.shape[1] + 6  # logits at every position
    # position t predicts token t+1: the last prefix position predicts the first caption token
    caption_logits = logits[:, prefix.shape[1] - 1:-1]
    expected = torch.nn.functional.cross_entropy(caption_logits.reshape(-1, 300),
                                                 batch["labels"].reshape(-1))
    torch.testing.assert_close(loss, expected)


def test_original_generates_exactly_the_tokens_asked(original):
    ids = original.eval().generate(torch.randn(1, 3, 32, 32), max_new_tokens=7,
                                   min_new_tokens=7)
    assert ids.shape == (1, 7)


@needs_browser
def test_stock_transformers_js_runs_the_old_export(old_export, tmp_path):
    """pipeline('image-to-text') on the old design's export: the tokens of Python's ORT."""
    _, folder, _ = old_export
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
                    ).save(tmp_path / "image.png")  # the model's size: no resizing differences
    tjs = NODE_MODULES / "@huggingface" / "transformers"
    mounts = {"/": PAGES / "pages", "/tjs/": tjs / "dist",
              "/ort-tjs/": tjs / "node_modules" / "onnxruntime-web" / "dist",
              "/models/old/": folder, "/images/": tmp_path}
    options = {"generation": {"maxNewTokens": 8, "minNewTokens": 8, "numBeams": 1},
               "withPixels": True}
    with serve(mounts) as server:
        url = f"{server.url}/images/image.png"
        runs = [{"runner": "ved", "model": "old", "dtype": dtype, "urls": [url],
                 "options": options} for dtype in ("fp32", "q8")]
        out = run_script(PAGES / "captions.mjs", {"url": server.url + "/index.html",
                                                  "runs": runs}, tmp_path / "browser",
                         timeout=300)
    fp32, q8 = (result["images"][url] for result in out["results"])
    pixels = np.asarray(fp32["pixels"], dtype=np.float32).reshape(1, 3, 32, 32)
    expected = old_design.OldOnnx(folder, "fp32").generate_ids(pixels, 8)[0].tolist()
    assert fp32["ids"] == expected
    assert len(q8["ids"]) == 8


def test_the_ratios_are_the_shipped_presets():
    """Top-level `size_ratio`/`browser_latency_ratio` divide the shipped preset by the old."""
    import architecture_comparison as bench

    def sizes(q8: float) -> dict:
        return {"q8": {"total_mb": q8}, "q4": {"total_mb": q8 / 2}}

    report = {"download_mb": {"old": sizes(224.0), "base": sizes(257.0), "compact": sizes(170.0)},
              "ort_q8_ms": {"old": 100.0, "base": 130.0, "compact": 80.0},
              "torch_ms": {"old": 10.0, "base": 30.0, "compact": 9.0},
              "browser": {"designs": {"old": {"caption_ms": 1000.0},
                                      "base": {"caption_ms": 1150.0},
                                      "compact": {"caption_ms": 600.0}}}}
    bench.ratios(report)
    shipped = bench.OURS_VARIANT["preset"]
    assert set(report["ratios_by_preset"]) == set(bench.OUR_PRESETS) and shipped in bench.OUR_PRESETS
    q8 = report["download_mb"][shipped]["q8"]["total_mb"]
    assert report["size_ratio"] == q8 / bench.PUBLISHED_OLD_MB["q8"]
    assert report["browser_latency_ratio"] == (
        report["browser"]["designs"][shipped]["caption_ms"] / 1000.0)
    assert report["ratios_by_preset"]["base"]["size_ratio_same_export"] == 257.0 / 224.0
