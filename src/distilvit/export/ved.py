"""The vision-encoder-decoder layout: what transformers.js's one-line `image-to-text` runs.

    OUT/config.json               model_type "vision-encoder-decoder": `encoder` (the tower's
                                  config), `decoder` (the LM's), decoder_start_token_id = the
                                  separator, + the `distilvit_export` block (layout recorded)
    OUT/generation_config.json    the model's defaults + decoder_start_token_id
    OUT/preprocessor_config.json  the tower's image processor
    OUT/tokenizer.json, ...
    OUT/onnx/encoder_model{suffix}.onnx         pixel_values -> last_hidden_state [B, N, D]
    OUT/onnx/decoder_model_merged{suffix}.onnx  input_ids, encoder_hidden_states, past...
                                                -> logits, present...

transformers.js runs an encoder-decoder as: the encoder once, then the decoder with
`input_ids = [[decoder_start_token_id]]`, the encoder output as `encoder_hidden_states` and an
empty past, then one token a step with the past (the encoder output is passed every step).
Our captioner has no cross-attention: the image prefix is the first N positions of the
decoder's own sequence. So the decoder graph prepends `encoder_hidden_states` to the token
embeddings when the past is empty (the prompt `[prefix][separator]`, exactly what the LLaVA
layout feeds) and drops them afterwards (the prefix already sits in the cache). It builds its
own attention mask and position ids, so it has no such inputs: transformers.js would feed a
mask over the decoder tokens only, shorter than the sequence.

The decoder is the LLaVA layout's traced `decoder_model_merged` with a few ONNX nodes put in
front of it (`prepend_prefix`), so both layouts run the same LM graph.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distilvit.config import ExportConfig
from distilvit.export.graphs import LMShape
from distilvit.export.layout import (
    export_block,
    generation_config,
    save_tokenizer,
    text_config,
    write_json,
)
from distilvit.export.onnx_export import (
    OPSET,
    QUANTIZE_CHOICES,
    ExportResult,
    export_decoder,
    export_vision,
    file_sizes,
    q4_sources,
    quiet_tracing,
    start_export,
    write_variants,
)
from distilvit.export.verify import Verification, verify_export
from distilvit.model.captioner import Captioner
from distilvit.ort.files import CONFIG_FILE, EXPORT_KEY, ONNX_DIR, VED, VED_GRAPHS, graph_file
from distilvit.ort.ved import DECODER, ENCODER, VedCaptioner

logger = logging.getLogger(__name__)

LAYOUT = VED
GRAPHS = VED_GRAPHS
# The decoder holds the embedding table (Gather) as well as the LM's matmuls.
INT8_OPS = {ENCODER: ["MatMul"], DECODER: ["MatMul", "Gather"]}
STALE_FILES = ("processor_config.json",)  # the LLaVA layout's, left by an earlier export


def export_ved(model: Captioner, output_dir: str | Path, quantize: str = "int8") -> ExportResult:
    """Write the two fp32 graphs, the requested variants and the config files."""
    out, lm, shape = start_export(model, output_dir, quantize)
    variants = ["fp32", *QUANTIZE_CHOICES[quantize]]
    temporary = {name: out / ONNX_DIR / f"{name}.tmp.onnx"
                 for name in ("decoder_core", "decoder_core_unmerged", "decoder_unmerged")}
    try:
        with quiet_tracing(), torch.inference_mode(False), torch.no_grad():
            prefix_tokens = export_vision(model, out / graph_file(ENCODER, "fp32"),
                                          "last_hidden_state")
            export_decoder(lm, shape, temporary["decoder_core"])
            unmerged = q4_sources(model, shape, variants, temporary["decoder_core_unmerged"],
                                  DECODER)
        table = lm.get_input_embeddings().weight.detach().float().numpy()
        prepend_prefix(temporary["decoder_core"], table, out / graph_file(DECODER, "fp32"), shape)
        sources = {}
        for key, core in unmerged.items():  # the q4 decoder's source, with the same prefix
            prepend_prefix(core, table, temporary["decoder_unmerged"], shape)
            sources[key] = temporary["decoder_unmerged"]
        write_ved_layout(out, model, lm, shape, prefix_tokens, variants)
        write_variants(out, GRAPHS, variants, INT8_OPS, sources)
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
    logger.info("exported %s as %s (%s)", out, LAYOUT, ", ".join(variants))
    return ExportResult(out, shape, prefix_tokens, variants, file_sizes(out), GRAPHS)


# ----- the decoder graph -------------------------------------------------------------------
def prepend_prefix(core: Path, table: np.ndarray, target: Path, shape: LMShape) -> None:
    """Turn the LLaVA decoder (inputs_embeds, mask, positions, past) into the VED decoder.

    New inputs `input_ids` and `encoder_hidden_states`; the nodes put in front compute
    `inputs_embeds = [prefix if past is empty][embed(input_ids)]`, an all-ones mask over
    past + new positions, and positions past .. past + new - 1.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(core))
    graph = model.graph
    replaced = {"inputs_embeds", "attention_mask", "position_ids"}
    kept = [i for i in graph.input if i.name not in replaced]
    new_inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                      ["batch_size", "decoder_sequence_length"]),
        helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT,
                                      ["batch_size", "encoder_sequence_length",
                                       shape.hidden_size])]
    del graph.input[:]
    graph.input.extend(new_inputs + kept)
    graph.initializer.extend([
        numpy_helper.from_array(table.astype(np.float32), "ved.embed_tokens.weight"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "ved.zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ved.one"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "ved.step")])
    nodes = _prefix_nodes(kept[0].name, helper)
    nodes += list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def _prefix_nodes(first_past: str, helper) -> list:
    """The nodes that make inputs_embeds, attention_mask and position_ids (see above)."""
    from onnx import TensorProto

    n = helper.make_node
    one_int64 = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    return [
        n("Gather", ["ved.embed_tokens.weight", "input_ids"], ["ved.tokens"]),
        n("Shape", [first_past], ["ved.past_len"], start=2, end=3),
        n("Shape", ["encoder_hidden_states"], ["ved.prefix_len"], start=1, end=2),
        n("Equal", ["ved.past_len", "ved.zero"], ["ved.past_empty"]),
        n("Where", ["ved.past_empty", "ved.prefix_len", "ved.zero"], ["ved.keep"]),
        n("Slice", ["encoder_hidden_states", "ved.zero", "ved.keep", "ved.one"], ["ved.prefix"]),
        n("Concat", ["ved.prefix", "ved.tokens"], ["inputs_embeds"], axis=1),
        n("Shape", ["inputs_embeds"], ["ved.new_len"], start=1, end=2),
        n("Add", ["ved.past_len", "ved.new_len"], ["ved.total_len"]),
        n("Shape", ["input_ids"], ["ved.batch"], start=0, end=1),
        n("Concat", ["ved.batch", "ved.total_len"], ["ved.mask_shape"], axis=0),
        n("ConstantOfShape", ["ved.mask_shape"], ["attention_mask"], value=one_int64),
        n("Squeeze", ["ved.past_len", "ved.zero"], ["ved.first_position"]),
        n("Squeeze", ["ved.total_len", "ved.zero"], ["ved.end_position"]),
        n("Range", ["ved.first_position", "ved.end_position", "ved.step"], ["ved.positions"]),
        n("Unsqueeze", ["ved.positions", "ved.zero"], ["ved.positions_row"]),
        n("Concat", ["ved.batch", "ved.new_len"], ["ved.positions_shape"], axis=0),
        n("Expand", ["ved.positions_row", "ved.positions_shape"], ["position_ids"]),
    ]


# ----- config files ------------------------------------------------------------------------
def write_ved_layout(out: Path, model: Captioner, lm: nn.Module, shape: LMShape, prefix_tokens: int,
                     variants: list[str]) -> None:
    """config.json, generation_config.json, the tokenizer and the image processor."""
    fmt = model.format
    decoder = text_config(lm, shape)
    decoder.update(is_decoder=True, add_cross_attention=False)
    config = {
        "architectures": ["VisionEncoderDecoderModel"], "model_type": LAYOUT,
        "is_encoder_decoder": True, "tie_word_embeddings": False,
        "decoder_start_token_id": fmt.separator_id, "bos_token_id": fmt.separator_id,
        "eos_token_id": fmt.eos_id, "pad_token_id": fmt.pad_id,
        "encoder": json.loads(model.encoder.tower.config.to_json_string()),
        "decoder": decoder,
        EXPORT_KEY: export_block(model, shape, prefix_tokens, variants, OPSET, LAYOUT, None),
    }
    write_json(out / CONFIG_FILE, config)
    generation = generation_config(model, model.config.generation)
    generation["decoder_start_token_id"] = fmt.separator_id
    write_json(out / "generation_config.json", generation)
    save_tokenizer(out, model, copy.deepcopy(model.tokenizer))
    model.image_processor.save_pretrained(out)  # no processor_class: a plain image processor
    for name in STALE_FILES:
        (out / name).unlink(missing_ok=True)


def verify_ved(model: Captioner, folder: str | Path,
               cfg: ExportConfig | None = None) -> Verification:
    """`verify_export` over this layout's graphs (ParityError if fp32 differs from torch)."""
    return verify_export(model, folder, cfg, runner=VedCaptioner)
