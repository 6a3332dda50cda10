"""Captioning with the exported graphs: onnxruntime, numpy, tokenizers and Pillow only.

    pixels -> vision_encoder -> prefix [B, N, D]
    [prefix][embed_tokens(separator)] -> decoder (empty past) -> first logits + cache
    each new token -> embed_tokens -> decoder (past) -> next logits + cache

The same `decoder_model_merged` graph serves the prompt (past length 0) and every later step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from distilvit.config import GenerationConfig
from distilvit.errors import ModelDirError, UsageError
from distilvit.images import ImageInput, load_image
from distilvit.ort.decoding import Cache, Rules, beam_search, greedy
from distilvit.ort.files import GRAPHS, LLAVA, graph_file, read_export_config, variants_in
from distilvit.ort.preprocess import ImagePreprocessor
from distilvit.tokens import bad_words_ids, until_eos

_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxCaptioner:
    """The llava layout's runtime (`distilvit.ort.open_captioner` picks by layout)."""

    layout = LLAVA
    graphs = GRAPHS
    runtime = "onnx"  # distilvit.caption_model.CaptionModel

    def __init__(self, folder: str | Path, variant: str = "fp32", threads: int = 0,
                 meta: dict[str, Any] | None = None):
        """`meta`: the folder's export block, already read and matched to this layout by
        `open_captioner` (so a load parses config.json once); read and checked here if None."""
        self.folder = Path(folder)
        if meta is None:
            meta = read_export_config(folder)
            if meta.get("layout", LLAVA) != self.layout:
                raise ModelDirError(f"{folder}: a {meta.get('layout', LLAVA)} export, not "
                                    f"{self.layout}; open it with distilvit.ort.open_captioner")
        self.meta = meta
        available = self.available_variants(folder)
        if variant not in available:
            raise ModelDirError(f"{folder}: no {variant} graphs (has {', '.join(available)}); "
                                "re-export with --quantize all")
        self.variant = variant
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.sessions = {g: ort.InferenceSession(str(self.folder / graph_file(g, variant)),
                                                 options, providers=["CPUExecutionProvider"])
                         for g in self.graphs}
        self.preprocessor = ImagePreprocessor.from_file(self.folder / "preprocessor_config.json")
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.generation = _generation_config(self.meta["generation"])
        decoder = self.sessions["decoder_model_merged"]
        self.float_type = self._decoder_float_type()
        self.past_names = [i.name for i in decoder.get_inputs() if i.name.startswith("past_")]

    def describe(self) -> dict[str, Any]:
        captioner = self.meta.get("captioner", {})
        return {"runtime": self.runtime, "variant": self.variant, "layout": self.layout,
                "base_models": {
                    "vision": captioner.get("encoder", {}).get("name_or_path", "unknown"),
                    "language": captioner.get("decoder", {}).get("name_or_path", "unknown")}}

    @classmethod
    def available_variants(cls, folder: str | Path) -> list[str]:
        return variants_in(folder, cls.graphs)

    def _decoder_float_type(self) -> type:
        return self._input_type("decoder_model_merged")

    # ----- graphs -----------------------------------------------------------------------
    def preprocess(self, images: list[ImageInput]) -> np.ndarray:
        """pixel_values [B, 3, H, W]; raises ImageError naming a bad input."""
        return self.preprocessor([load_image(image) for image in images])

    def image_prefix(self, pixel_values: np.ndarray) -> np.ndarray:
        feeds = {"pixel_values": pixel_values.astype(self._input_type("vision_encoder"))}
        return self.sessions["vision_encoder"].run(None, feeds)[0]

    def embed(self, input_ids: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": np.asarray(input_ids, dtype=np.int64)}
        return self.sessions["embed_tokens"].run(None, feeds)[0]

    def prompt_embeddings(self, prefix: np.ndarray) -> np.ndarray:
        """[image prefix][separator] as embeddings [B, N + 1, D]."""
        separator = self.embed(np.array([[self.meta["separator_id"]]]))
        separator = np.broadcast_to(separator, (len(prefix), 1, separator.shape[-1]))
        return np.concatenate([prefix.astype(self.float_type),
                               separator.astype(self.float_type)], axis=1)

    def decoder(self, embeds: np.ndarray, cache: Cache) -> tuple[np.ndarray, Cache]:
        """Last-position logits [R, V] (float32) and the grown cache."""
        rows, new = embeds.shape[:2]
        past = cache.length
        feeds = {"inputs_embeds": embeds.astype(self.float_type),
                 "attention_mask": np.ones((rows, past + new), dtype=np.int64),
                 "position_ids": np.broadcast_to(np.arange(past, past + new), (rows, new))
                 .astype(np.int64)}
        feeds.update(zip(self.past_names, cache.arrays, strict=True))
        logits, *present = self.sessions["decoder_model_merged"].run(None, feeds)
        return logits[:, -1].astype(np.float32), Cache(present)

    def empty_cache(self, rows: int) -> Cache:
        shape = (rows, self.meta["num_key_value_heads"], 0, self.meta["head_dim"])
        return Cache([np.zeros(shape, dtype=self.float_type) for _ in self.past_names])

    def prefill(self, pixel_values: np.ndarray) -> tuple[np.ndarray, Cache]:
        """Logits of the first caption token [B, V] and the prompt's cache."""
        embeds = self.prompt_embeddings(self.image_prefix(pixel_values))
        return self.decoder(embeds, self.empty_cache(len(embeds)))

    def _step(self, tokens: np.ndarray, cache: Cache) -> tuple[np.ndarray, Cache]:
        return self.decoder(self.embed(tokens[:, None]), cache)

    def _input_type(self, graph: str, index: int = 0) -> type:
        return _NUMPY_TYPES[self.sessions[graph].get_inputs()[index].type]

    # ----- generation -------------------------------------------------------------------
    def rules(self, gen: GenerationConfig) -> Rules:
        if gen.do_sample:
            raise UsageError("the onnx backend decodes greedily or with beams; sampling "
                             "needs --backend torch")
        return Rules(max_new_tokens=gen.max_new_tokens, eos_id=self.meta["eos_id"],
                     pad_id=self.meta["pad_id"], num_beams=gen.num_beams,
                     min_new_tokens=gen.min_new_tokens,
                     repetition_penalty=gen.repetition_penalty,
                     no_repeat_ngram_size=gen.no_repeat_ngram_size,
                     bad_words_ids=bad_words_ids(self._encode, gen.bad_words))

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def generate_ids(self, pixel_values: np.ndarray, gen: GenerationConfig) -> np.ndarray:
        """New token ids [B, T] (EOS and padding after it included)."""
        rules = self.rules(gen)
        logits, cache = self.prefill(pixel_values)
        search = beam_search if rules.num_beams > 1 else greedy
        return search(self._step, logits, cache, rules)

    def decode(self, token_ids: np.ndarray | list[list[int]]) -> list[str]:
        """Text up to the first EOS, special tokens dropped."""
        eos = self.meta["eos_id"]
        rows = token_ids.tolist() if isinstance(token_ids, np.ndarray) else token_ids
        return [self.tokenizer.decode(until_eos(row, eos), skip_special_tokens=True)
                .strip() for row in rows]

    def caption(self, images: ImageInput | list[ImageInput],
                generation: GenerationConfig | None = None, **overrides: Any) -> list[str]:
        """Captions for paths, PIL images or bytes; raises ImageError naming a bad input."""
        batch = images if isinstance(images, list) else [images]
        gen = dataclasses.replace(generation or self.generation, **overrides)
        return self.decode(self.generate_ids(self.preprocess(batch), gen))


def _generation_config(values: dict[str, Any]) -> GenerationConfig:
    names = {f.name for f in dataclasses.fields(GenerationConfig)}
    known = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}
    return GenerationConfig(**known)
