"""The model Firefox's alt text runs today (mozilla/distilvit), built from configs, and its export.

A `VisionEncoderDecoderModel` of ViT-base/16-224 (with its unused pooler, as `AutoModel`
loads it) and DistilGPT-2 (GPT-2 with 6 layers) with cross-attention to the 197 encoder
tokens: about 182M parameters at the real shapes. Random weights; the tokenizer is trained
locally (GPT-2-style byte BPE, `<|endoftext|>` = id 0 is BOS, EOS, pad and decoder start).

Training as its `distilvit/train.py` did: `Seq2SeqTrainer` over the whole model (its
`freeze_model_layers` call is commented out, so every weight trains), the trainer's defaults:
AdamW lr 5e-5, no weight decay, linear schedule, clipping at 1.0, fp32 on the CPU.

The export is the layout transformers.js runs for `pipeline('image-to-text')` (what Firefox
calls): `onnx/encoder_model.onnx` (pixel_values -> last_hidden_state [B, 197, 768]) and
`onnx/decoder_model_merged.onnx` (input_ids, encoder_hidden_states,
past_key_values.{i}.key/value -> logits, present.{i}.key/value), one graph for the first
step (empty past) and the later ones, with the q8/q4/fp16 variants made by the same
`distilvit.export.quantize` recipes as ours (q8 = `quantize_dynamic` INT8 of every MatMul and
of the embedding Gather). The cache holds the self-attention only, so the cross-attention
keys/values over the 197 encoder tokens are recomputed at every step: for a GPT-2 decoder
transformers.js makes no encoder entries in the cache (see `_DecoderGraph`). GPT-2's `Conv1D`
is traced as MatMul + Add (not Gemm), so the INT8 and 4-bit recipes see its weights as the
same MatMul nodes as ours.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch
import transformers
from torch import nn
from transformers import DynamicCache, EncoderDecoderCache

from distilvit.bases import DISTILGPT2, train_tokenizer
from distilvit.export.graphs import conv1d_as_matmul
from distilvit.export.onnx_export import OPSET, QUANTIZE_CHOICES, quiet_tracing, write_variants
from distilvit.ort.files import VED_GRAPHS, graph_file

ENCODER, DECODER = VED_GRAPHS
INT8_OPS = {ENCODER: ["MatMul"], DECODER: ["MatMul", "Gather"]}
VIT_BASE_224 = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, image_size=224, patch_size=16)
START = 0  # `<|endoftext|>` in the local tokenizer: BOS, EOS, pad and decoder start


def build_old(vit_sizes: dict | None = None, gpt2_sizes: dict | None = None,
              seed: int = 0) -> transformers.VisionEncoderDecoderModel:
    """ViT + GPT-2 with cross-attention at the given (default: the real) shapes."""
    torch.manual_seed(seed)
    vit = transformers.ViTModel(transformers.ViTConfig(**(vit_sizes or VIT_BASE_224)))
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        **(gpt2_sizes or DISTILGPT2), add_cross_attention=True, is_decoder=True,
        bos_token_id=START, eos_token_id=START, pad_token_id=START))
    model = transformers.VisionEncoderDecoderModel(encoder=vit, decoder=gpt2)
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = cfg.bos_token_id = START
        cfg.eos_token_id = cfg.pad_token_id = START
    return model.eval()


def tokenizer():
    return train_tokenizer(["a photo of a dog on the grass"] * 8, vocab_size=300)


class OldTrainer:
    """The old training step: the whole model, `Seq2SeqTrainer` defaults (see above)."""

    def __init__(self, model: transformers.VisionEncoderDecoderModel, total_steps: int = 10_000):
        self.model = model.train().requires_grad_(True)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
        self.scheduler = transformers.get_scheduler("linear", self.optimizer, 0, total_steps)

    def step(self, pixel_values: torch.Tensor, labels: torch.Tensor, **_: object) -> float:
        loss = self.model(pixel_values=pixel_values, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


# ----- export ------------------------------------------------------------------------------
class _EncoderGraph(nn.Module):
    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=pixel_values).last_hidden_state


class _DecoderGraph(nn.Module):
    """input_ids, encoder_hidden_states, past (per layer: key, value) -> logits, present.

    Only the self-attention is cached: transformers.js makes the cache of a
    vision-encoder-decoder model from the decoder's normalised config, and GPT-2's has no
    encoder layers, so it feeds `past_key_values.{i}.key/value` only. The cross-attention
    keys/values are computed from `encoder_hidden_states` at every step, as in the
    published model (GPT-2 in transformers 4.x, which optimum exported, cached none).
    """

    def __init__(self, gpt2: transformers.GPT2LMHeadModel):
        super().__init__()
        self.gpt2 = gpt2

    def forward(self, input_ids: torch.Tensor, encoder_hidden_states: torch.Tensor,
                *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pairs = [(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)]
        cache = EncoderDecoderCache(DynamicCache(ddp_cache_data=pairs), DynamicCache())
        out = self.gpt2(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                        cache=cache, use_cache=True)
        present = []
        for layer in out.cache.self_attention_cache.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def cache_names(layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


def export_old(model: transformers.VisionEncoderDecoderModel, out: Path,
               quantize: str = "all") -> list[str]:
    """The two graphs, the variants and the config files; returns the variants written."""
    out = Path(out)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    with quiet_tracing(), torch.no_grad():
        _export_encoder(model, out / graph_file(ENCODER, "fp32"))
        _export_decoder(model, out / graph_file(DECODER, "fp32"))
    variants = ["fp32", *QUANTIZE_CHOICES[quantize]]
    write_variants(out, VED_GRAPHS, variants, INT8_OPS)
    _write_configs(model, out)
    return variants


def _export_encoder(model, path: Path) -> None:
    size = model.config.encoder.image_size
    pixels = torch.randn(1, 3, size, size)
    torch.onnx.export(_EncoderGraph(model.encoder).eval(), (pixels,), str(path),
                      input_names=["pixel_values"], output_names=["last_hidden_state"],
                      dynamic_axes={"pixel_values": {0: "batch_size"},
                                    "last_hidden_state": {0: "batch_size"}},
                      opset_version=OPSET, dynamo=False)


def _export_decoder(model, path: Path) -> None:
    """Traced with a non-empty past and several new tokens, so no shape is specialised."""
    gpt2 = conv1d_as_matmul(copy.deepcopy(model.decoder)).float().eval()
    cfg = gpt2.config
    batch, new, past_len, encoder_len = 2, 3, 4, 5
    past = [torch.randn(batch, cfg.n_head, past_len, cfg.n_embd // cfg.n_head)
            for _ in range(2 * cfg.n_layer)]
    past_names = cache_names(cfg.n_layer, "past_key_values")
    present_names = cache_names(cfg.n_layer, "present")
    axes = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    axes.update({name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names})
    axes.update({name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names})
    args = (torch.randint(1, 300, (batch, new)), torch.randn(batch, encoder_len, cfg.n_embd),
            *past)
    torch.onnx.export(_DecoderGraph(gpt2), args, str(path),
                      input_names=["input_ids", "encoder_hidden_states", *past_names],
                      output_names=["logits", *present_names], dynamic_axes=axes,
                      opset_version=OPSET, dynamo=False)


def _write_configs(model, out: Path) -> None:
    config = model.config.to_dict()
    config["architectures"] = ["VisionEncoderDecoderModel"]
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"decoder_start_token_id": START, "bos_token_id": START,
                  "eos_token_id": START, "pad_token_id": START, "max_new_tokens": 20}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    size = model.config.encoder.image_size
    transformers.ViTImageProcessorPil(size={"height": size, "width": size}).save_pretrained(out)
    tokenizer().save_pretrained(out)


# ----- runtimes ----------------------------------------------------------------------------
@torch.inference_mode()
def torch_greedy(model, pixel_values: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """HF generate, greedy with the KV cache, exactly `new_tokens` (EOS suppressed before)."""
    out = model.generate(pixel_values=pixel_values, max_new_tokens=new_tokens,
                         min_new_tokens=new_tokens, do_sample=False, num_beams=1)
    return out[:, 1:]  # drop the decoder start token


class OldOnnx:
    """Greedy decoding over the exported graphs the way transformers.js feeds them."""

    def __init__(self, folder: Path, variant: str = "fp32"):
        import onnxruntime

        def session(graph: str):
            return onnxruntime.InferenceSession(str(Path(folder) / graph_file(graph, variant)),
                                                providers=["CPUExecutionProvider"])

        self.encoder, self.decoder = session(ENCODER), session(DECODER)
        self.past = [i for i in self.decoder.get_inputs() if i.name.startswith("past_")]
        self.float = np.float16 if "float16" in self.past[0].type else np.float32

    def generate_ids(self, pixel_values: np.ndarray, new_tokens: int) -> np.ndarray:
        """Exactly `new_tokens` greedy ids per image (EOS suppressed, as `min_new_tokens`)."""
        states = self.encoder.run(None, {"pixel_values": pixel_values.astype(np.float32)})[0]
        batch = len(states)
        past = {i.name: np.zeros((batch, i.shape[1], 0, i.shape[3]), self.float)
                for i in self.past}
        ids = np.full((batch, 1), START, dtype=np.int64)
        chosen = []
        for _ in range(new_tokens):
            feeds = {"input_ids": ids, "encoder_hidden_states": states.astype(self.float),
                     **past}
            logits, *present = self.decoder.run(None, feeds)
            scores = logits[:, -1].astype(np.float32)
            scores[:, START] = -np.inf  # EOS
            ids = scores.argmax(-1)[:, None].astype(np.int64)
            chosen.append(ids)
            past = {info.name: value for info, value in zip(self.past, present, strict=True)}
        return np.concatenate(chosen, axis=1)
