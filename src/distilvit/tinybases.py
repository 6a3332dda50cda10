"""Build the tiny pretrained bases shipped as package data (`make tiny-bases`).

Nothing can be downloaded here, yet the real recipe (frozen pretrained encoder + projector +
LoRA on a pretrained LM) needs pretrained bases. This builds them from the synthetic scenes:

- a byte-level BPE tokenizer trained on scene captions;
- a tiny SigLIP-architecture vision tower, pretrained with the sigmoid contrastive loss of
  SigLIP (Zhai et al. 2023, eq. 1) against a tiny SigLIP text tower that reads a dense
  description of the scene (each object with its grid cell);
- a tiny Llama-architecture LM pretrained on scene captions (next-token prediction).

Everything is seeded; the same seed and config rebuild the same files on the same software.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from tqdm import tqdm

from distilvit import bases
from distilvit.config import ShapesConfig
from distilvit.data.synthetic import (
    COLOURS,
    SHAPES,
    SIZES,
    TEMPLATES,
    caption,
    draw_scene,
    scene_for,
)
from distilvit.model.loading import builtin_dir
from distilvit.runtime import hf_quiet, seed_everything
from distilvit.train.optim import warmup_cosine

logger = logging.getLogger(__name__)
PHRASE_TOKENS = 8  # "large purple triangle" and padding
CELLS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom",
         "bottom right")
# What can sit in a cell: index 0 is an empty cell, then every (size, colour, shape).
PHRASES = ["empty"] + [f"{s} {c} {h}" for s in SIZES for c in COLOURS for h in SHAPES]


@dataclass
class TinyBasesConfig:
    seed: int = 0
    images: int = 20_000  # shapes train scenes used for pretraining
    vocab_size: int = 384
    # 96 px in 16 px patches: a 6x6 patch grid, 3x3 prefix tokens after pixel shuffle (k=2),
    # one token per cell of the scene's 3x3 grid, so no token mixes two objects.
    image_size: int = 96
    patch_size: int = 16
    vision_hidden: int = 96
    vision_layers: int = 4
    text_hidden: int = 96
    text_layers: int = 2
    text_length: int = 40
    lm_hidden: int = 128
    lm_layers: int = 4
    vision_steps: int = 3000
    vision_batch: int = 128
    vision_lr: float = 1.5e-3
    lm_steps: int = 2000
    lm_batch: int = 64
    lm_lr: float = 2e-3


def dense_description(objects) -> str:
    """What the contrastive text tower reads: every object, with where it is."""
    return ", ".join(f"{o.size} {o.colour} {o.shape} {CELLS[o.cell]}" for o in objects)


def make_corpus(cfg: TinyBasesConfig):
    """Scenes drawn once: uint8 pixels, dense descriptions, all-template captions, and per
    cell the index in PHRASES of what is there ("empty" included)."""
    shapes = ShapesConfig(seed=cfg.seed, image_size=cfg.image_size)
    pixels = np.empty((cfg.images, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    dense, captions = [], []
    cell_labels = torch.zeros((cfg.images, 9), dtype=torch.long)
    for i in tqdm(range(cfg.images), desc="scenes", unit="img", leave=False):
        objects, attempt = scene_for("train", i, shapes)
        rng = np.random.default_rng([cfg.seed, 0, i, attempt, 1])
        pixels[i] = np.asarray(draw_scene(objects, rng, cfg.image_size))
        dense.append(dense_description(objects))
        captions.append([caption(objects, t) for t in range(len(TEMPLATES))])
        for o in objects:
            cell_labels[i, o.cell] = PHRASES.index(f"{o.size} {o.colour} {o.shape}")
    return (torch.from_numpy(pixels), dense, PHRASES, cell_labels), captions


def normalise(pixels_uint8: torch.Tensor) -> torch.Tensor:
    """[B,H,W,3] uint8 -> [B,3,H,W] in [-1, 1], as SigLIP's processor (mean = std = 0.5)."""
    return pixels_uint8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def sigmoid_loss(image_emb, text_emb, same_text, scale, bias) -> torch.Tensor:
    """SigLIP's pairwise loss; pairs with identical texts count as positives, not negatives."""
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
    logits = logits * scale.exp() + bias
    labels = same_text.float() * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / len(logits)


def siglip_model(cfg: TinyBasesConfig, tokenizer) -> transformers.SiglipModel:
    vision = transformers.SiglipVisionConfig(
        hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_hidden * 4,
        num_hidden_layers=cfg.vision_layers, num_attention_heads=4,
        image_size=cfg.image_size, patch_size=cfg.patch_size)
    text = transformers.SiglipTextConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.text_hidden,
        intermediate_size=cfg.text_hidden * 4, num_hidden_layers=cfg.text_layers,
        num_attention_heads=4, max_position_embeddings=cfg.text_length,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    return transformers.SiglipModel(transformers.SiglipConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict()))


def cell_weights(image_size: int, patch_size: int) -> torch.Tensor:
    """[9, P]: how much of each patch lies in each cell of the 3x3 scene grid (rows sum to 1)."""
    side = image_size // patch_size
    edges = np.arange(side + 1) * patch_size
    cuts = np.linspace(0, image_size, 4)
    overlap = np.array([[max(0.0, min(edges[p + 1], cuts[c + 1]) - max(edges[p], cuts[c]))
                         for p in range(side)] for c in range(3)])  # [3 cells, side patches]
    weights = np.einsum("ap,bq->abpq", overlap, overlap).reshape(9, side * side)
    return torch.tensor(weights / weights.sum(1, keepdims=True), dtype=torch.float32)


class RegionHead(torch.nn.Module):
    """Local alignment: each grid cell's pooled patches against the text of what is there.

    The global image-text loss alone left shapes out of the patch features (a linear probe on
    them was at chance for shape); the captioner reads patches, so they must carry each
    object. The head is discarded after pretraining.
    """

    def __init__(self, cfg: TinyBasesConfig):
        super().__init__()
        self.register_buffer("cells", cell_weights(cfg.image_size, cfg.patch_size))
        self.proj = torch.nn.Linear(cfg.vision_hidden, cfg.text_hidden)
        self.scale = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
        self.bias = torch.nn.Parameter(torch.tensor(-5.0))

    def forward(self, patches, phrase_emb, labels) -> torch.Tensor:
        """patches [B, P, D]; phrase_emb [K, T]; labels [B, 9] index into the K phrases."""
        regions = self.proj(self.cells @ patches.float()).flatten(0, 1)  # [B*9, T]
        same = labels.flatten()[:, None] == torch.arange(len(phrase_emb))[None, :]
        return sigmoid_loss(regions, phrase_emb, same, self.scale, self.bias)


def pretrain_vision(cfg: TinyBasesConfig, tokenizer, corpus) -> transformers.SiglipModel:
    pixels, dense, phrases, cell_labels = corpus
    model, region = siglip_model(cfg, tokenizer), RegionHead(cfg)
    def tokens(texts: list[str], length: int) -> torch.Tensor:
        return tokenizer(texts, padding="max_length", truncation=True, max_length=length,
                         return_tensors="pt")["input_ids"]

    ids, phrase_ids = tokens(dense, cfg.text_length), tokens(phrases, PHRASE_TOKENS)
    text_keys = torch.tensor([hash(d) for d in dense])
    params = list(model.parameters()) + list(region.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.vision_lr, weight_decay=0.05)
    schedule = warmup_cosine(optimizer, cfg.vision_steps, 0.05)
    generator = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(range(cfg.vision_steps), desc="vision (SigLIP loss)", unit="step")
    for _ in bar:
        batch = torch.randint(len(pixels), (cfg.vision_batch,), generator=generator)
        # fp32: at these widths bf16 autocast measured slower on the CPU (cast overhead).
        vision = model.vision_model(pixel_values=normalise(pixels[batch]))
        text_emb = _pooled(model.get_text_features(input_ids=ids[batch]))
        phrase_emb = _pooled(model.get_text_features(input_ids=phrase_ids))
        same = text_keys[batch][:, None] == text_keys[batch][None, :]
        loss = sigmoid_loss(vision.pooler_output.float(), text_emb, same, model.logit_scale,
                            model.logit_bias)
        loss = loss + region(vision.last_hidden_state, phrase_emb, cell_labels[batch])
        _step(loss, params, optimizer, schedule)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model


def _pooled(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_*_features; 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def pretrain_lm(cfg: TinyBasesConfig, tokenizer, cell_labels: torch.Tensor,
                captions, family: str = "llama") -> transformers.PreTrainedModel:
    """Next-token prediction on scene captions; on 3 steps in 4 the caption is prompted by
    one learned vector per grid cell naming what is there (a slot table over PHRASES indexed
    by `cell_labels`; slot vectors, then BOS caption EOS: the captioner's own layout, loss on
    the caption only).

    The prompted steps teach the LM to read a prefix of one embedding per cell: find each
    object in reading order, group repeats, name size, colour and shape, the in-context skill
    a real pretrained LM brings to prefix captioning. Trained on captions alone the LM could
    not: the captioner had to learn reading through LoRA, and after 3 minutes named colour or
    shape well but never both. The slot table is discarded; the projector learns to produce
    such vectors from the image. `family`: the shipped LM is a Llama; `gpt2` runs the same
    recipe on GPT-2 (bench/compact_shapes.py).
    """
    config = bases.lm_config(family, tokenizer, hidden=cfg.lm_hidden, layers=cfg.lm_layers,
                             heads=4, tie_word_embeddings=True)
    model = getattr(transformers, bases.LM_FAMILIES[family][1])(config)
    slot_table = torch.nn.Embedding(len(PHRASES), cfg.lm_hidden)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    encoded = [[[bos] + ids + [eos] for ids in tokenizer(group, add_special_tokens=False)
                ["input_ids"]] for group in captions]
    params = list(model.parameters()) + list(slot_table.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.lm_lr, weight_decay=0.01)
    schedule = warmup_cosine(optimizer, cfg.lm_steps, 0.05)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    bar = tqdm(range(cfg.lm_steps), desc="language model", unit="step")
    for step in bar:
        scenes = torch.randint(len(encoded), (cfg.lm_batch,), generator=generator)
        picks = torch.randint(len(TEMPLATES), (cfg.lm_batch,), generator=generator)
        rows = [encoded[i][t] for i, t in zip(scenes.tolist(), picks.tolist(), strict=True)]
        input_ids, labels, mask = _pad_batch(rows, tokenizer.pad_token_id)
        embeds = model.get_input_embeddings()(input_ids)
        if step % 4:
            prefix = slot_table(cell_labels[scenes])
            embeds = torch.cat([prefix, embeds], dim=1)
            mask = torch.cat([torch.ones(prefix.shape[:2], dtype=mask.dtype), mask], dim=1)
            labels = torch.cat([torch.full(prefix.shape[:2], -100), labels], dim=1)
        loss = model(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
        _step(loss, params, optimizer, schedule)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model


def _pad_batch(rows: list[list[int]],
               pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, labels (-100 on padding) and the attention mask."""
    width = max(map(len, rows))
    input_ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        labels[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return input_ids, labels, mask


def _step(loss, params, optimizer, schedule) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()


def build(cfg: TinyBasesConfig, out_dir: Path) -> dict:
    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    corpus, captions = make_corpus(cfg)
    texts = corpus[1] + corpus[2] + [c for group in captions for c in group]
    tokenizer = bases.train_tokenizer(texts, vocab_size=cfg.vocab_size)
    lm = pretrain_lm(cfg, tokenizer, corpus[3], captions)
    siglip = pretrain_vision(cfg, tokenizer, corpus)
    save(out_dir, siglip, lm, tokenizer, cfg)
    info = {"config": asdict(cfg), "seconds": round(time.perf_counter() - start, 1),
            "torch": torch.__version__, "transformers": transformers.__version__}
    (out_dir / "tiny-bases.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def save(out_dir: Path, siglip, lm, tokenizer, cfg: TinyBasesConfig) -> None:
    vision_dir, lm_dir = out_dir / "tiny-vision", out_dir / "tiny-lm"
    with hf_quiet():
        siglip.vision_model.save_pretrained(vision_dir)  # a SiglipVisionModel
        lm.save_pretrained(lm_dir)
    size = {"height": cfg.image_size, "width": cfg.image_size}
    transformers.SiglipImageProcessorPil(size=size).save_pretrained(vision_dir)
    tokenizer.save_pretrained(lm_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the tiny pretrained bases.")
    parser.add_argument("--out", type=Path, default=builtin_dir(""),
                        help="folder for tiny-vision/ and tiny-lm/ (default: package assets)")
    parser.add_argument("--vision-steps", type=int, default=TinyBasesConfig.vision_steps)
    parser.add_argument("--lm-steps", type=int, default=TinyBasesConfig.lm_steps)
    parser.add_argument("--images", type=int, default=TinyBasesConfig.images)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    cfg = TinyBasesConfig(vision_steps=args.vision_steps, lm_steps=args.lm_steps,
                          images=args.images)
    info = build(cfg, args.out)
    print(f"tiny bases written to {args.out} in {info['seconds']} s")


if __name__ == "__main__":
    main()
