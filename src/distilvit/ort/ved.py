"""The vision-encoder-decoder layout's runtime: the graphs transformers.js's `image-to-text` runs.

    pixels -> encoder_model -> prefix [B, N, D]
    decoder_model_merged(input_ids=[separator], encoder_hidden_states=prefix, empty past)
        -> first logits + cache (the graph puts the prefix in front of the separator)
    decoder_model_merged(input_ids=[token], encoder_hidden_states=[B, 0, D], past) -> ...

Same preprocessing, decoding rules and text as the llava layout's `OnnxCaptioner`. Later steps
pass a zero-length `encoder_hidden_states` (the graph drops the prefix once the past is
non-empty), so beam search may change the number of rows.
"""

from __future__ import annotations

import numpy as np

from distilvit.ort.captioner import OnnxCaptioner
from distilvit.ort.decoding import Cache
from distilvit.ort.files import VED, VED_GRAPHS

ENCODER, DECODER = VED_GRAPHS


class VedCaptioner(OnnxCaptioner):
    layout = VED
    graphs = VED_GRAPHS

    def _decoder_float_type(self) -> type:
        return self._input_type(DECODER, 1)  # encoder_hidden_states (input 0 is input_ids)

    def image_prefix(self, pixel_values: np.ndarray) -> np.ndarray:
        feeds = {"pixel_values": pixel_values.astype(self._input_type(ENCODER))}
        return self.sessions[ENCODER].run(None, feeds)[0]

    def decoder_step(self, input_ids: np.ndarray, prefix: np.ndarray,
                     cache: Cache) -> tuple[np.ndarray, Cache]:
        """Last-position logits [R, V] (float32) and the grown cache."""
        feeds = {"input_ids": np.asarray(input_ids, dtype=np.int64),
                 "encoder_hidden_states": prefix.astype(self.float_type)}
        feeds.update(zip(self.past_names, cache.arrays, strict=True))
        logits, *present = self.sessions[DECODER].run(None, feeds)
        return logits[:, -1].astype(np.float32), Cache(present)

    def prefill(self, pixel_values: np.ndarray) -> tuple[np.ndarray, Cache]:
        prefix = self.image_prefix(pixel_values)
        start = np.full((len(prefix), 1), self.meta["separator_id"], dtype=np.int64)
        return self.decoder_step(start, prefix, self.empty_cache(len(prefix)))

    def _step(self, tokens: np.ndarray, cache: Cache) -> tuple[np.ndarray, Cache]:
        no_prefix = np.zeros((len(tokens), 0, self.meta["hidden_size"]), dtype=self.float_type)
        return self.decoder_step(tokens[:, None], no_prefix, cache)
