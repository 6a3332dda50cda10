import dataclasses
import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import perturb_trainable
from distilvit import bases
from distilvit.cli import main
from distilvit.config import (
    CaptionerConfig,
    DecoderConfig,
    EncoderConfig,
    ExportConfig,
    GenerationConfig,
    preset,
)
from distilvit.export.onnx_export import OPSET, export_captioner
from distilvit.export.verify import (
    FidelityError,
    ParityError,
    check_fidelity,
    sample_images,
    torch_first_logits,
    verify_export,
)
from distilvit.generate import generate_ids
from distilvit.model import Captioner
from distilvit.model.loading import builtin_dir
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import GRAPHS, graph_file
from distilvit.runtime import hf_quiet
from distilvit.tokens import until_eos
from export_fixtures import awkward_images, export_once

GREEDY = GenerationConfig(max_new_tokens=10)


@pytest.fixture(scope="module")
def exported(trained_dir, tmp_path_factory):
    return export_once(trained_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def model(trained_dir):
    return Captioner.from_pretrained(trained_dir)


@pytest.fixture(scope="module")
def onnx_fp32(exported):
    return OnnxCaptioner(exported, "fp32")


@pytest.fixture()
def test_images(images, tmp_path):
    return images + awkward_images(tmp_path)


def _ids(rows, eos):
    return [until_eos(list(r), eos) for r in np.asarray(rows).tolist()]


def test_layout_has_every_graph_variant_and_config(exported):
    for graph in GRAPHS:
        for variant in ("fp32", "int8", "q4", "fp16"):
            assert (exported / graph_file(graph, variant)).is_file()
    assert graph_file("decoder_model_merged", "int8") == "onnx/decoder_model_merged_quantized.onnx"
    config = json.loads((exported / "config.json").read_text())
    assert config["model_type"] == "llava" and config["text_config"]["model_type"] == "llama"
    assert config["text_config"]["num_key_value_heads"] == 2
    generation = json.loads((exported / "generation_config.json").read_text())
    assert generation["max_new_tokens"] == 30
    processor = json.loads((exported / "processor_config.json").read_text())
    assert processor["patch_size"] == 8 * 2 and processor["image_token"] == "<image>"
    tokenizer = json.loads((exported / "tokenizer.json").read_text())
    image_tokens = [t for t in tokenizer["added_tokens"] if t["content"] == "<image>"]
    assert [t["id"] for t in image_tokens] == [config["image_token_index"]]
    pre = json.loads((exported / "preprocessor_config.json").read_text())
    assert pre["processor_class"] == "LlavaProcessor"


def test_graph_signatures_follow_the_transformers_js_layout(exported):
    decoder = ort.InferenceSession(str(exported / graph_file("decoder_model_merged", "fp32")))
    inputs = {i.name: i.shape for i in decoder.get_inputs()}
    assert list(inputs)[:3] == ["inputs_embeds", "attention_mask", "position_ids"]
    assert inputs["past_key_values.1.value"] == ["batch_size", 2, "past_sequence_length", 12]
    outputs = [o.name for o in decoder.get_outputs()]
    assert outputs == ["logits"] + [f"present.{i}.{k}" for i in range(2) for k in ("key", "value")]
    vision = ort.InferenceSession(str(exported / graph_file("vision_encoder", "fp32")))
    assert vision.get_outputs()[0].name == "image_features"
    assert vision.get_outputs()[0].shape == ["batch_size", 4, 48]
    embed = ort.InferenceSession(str(exported / graph_file("embed_tokens", "fp32")))
    assert embed.get_inputs()[0].shape == ["batch_size", "sequence_length"]
    opsets = {o.domain: o.version for o in onnx.load(
        str(exported / graph_file("decoder_model_merged", "fp32"))).opset_import}
    assert opsets[""] == OPSET


def test_fp32_greedy_tokens_and_text_equal_torch(model, onnx_fp32, test_images):
    pixels = model.preprocess(test_images)
    onnx_pixels = onnx_fp32.preprocess(test_images)
    assert np.array_equal(onnx_pixels, pixels.numpy())  # preprocessing is bit-identical
    eos = model.format.eos_id
    expected = _ids(generate_ids(model, pixels, GREEDY), eos)
    assert _ids(onnx_fp32.generate_ids(onnx_pixels, GREEDY), eos) == expected
    assert onnx_fp32.caption(test_images, GREEDY) == model.caption(test_images, GREEDY)


def test_first_step_logits_match_torch(model, onnx_fp32, test_images):
    reference = torch_first_logits(model, model.preprocess(test_images))
    logits, _ = onnx_fp32.prefill(onnx_fp32.preprocess(test_images))
    assert np.abs(logits - reference).max() < 1e-4


def test_beam_search_equals_torch(model, onnx_fp32, test_images):
    beams = dataclasses.replace(GREEDY, num_beams=3, max_new_tokens=8)
    eos = model.format.eos_id
    expected = _ids(generate_ids(model, model.preprocess(test_images), beams), eos)
    got = _ids(onnx_fp32.generate_ids(onnx_fp32.preprocess(test_images), beams), eos)
    assert got == expected


@pytest.mark.filterwarnings("ignore:Passing `repetition_penalty`")  # HF: generated tokens only
@pytest.mark.parametrize("num_beams", [1, 2])
def test_logits_rules_equal_torch(model, onnx_fp32, images, num_beams):
    pixels = model.preprocess(images)
    first = generate_ids(model, pixels, GREEDY)[0, 0].item()
    rules = dataclasses.replace(GREEDY, num_beams=num_beams, repetition_penalty=1.5,
                                no_repeat_ngram_size=2, min_new_tokens=6,
                                bad_words=(model.tokenizer.decode([first]),))
    eos = model.format.eos_id
    expected = _ids(generate_ids(model, pixels, rules), eos)
    assert _ids(onnx_fp32.generate_ids(onnx_fp32.preprocess(images), rules), eos) == expected


def test_cached_steps_equal_one_full_pass(onnx_fp32, images):
    """The merged decoder with a past gives the logits of recomputing everything."""
    logits, cache = onnx_fp32.prefill(onnx_fp32.preprocess(images))
    prompt = onnx_fp32.prompt_embeddings(onnx_fp32.image_prefix(onnx_fp32.preprocess(images)))
    tokens = logits.argmax(-1)
    step_logits, _ = onnx_fp32.decoder(onnx_fp32.embed(tokens[:, None]), cache)
    full = np.concatenate([prompt, onnx_fp32.embed(tokens[:, None])], axis=1)
    full_logits, _ = onnx_fp32.decoder(full, onnx_fp32.empty_cache(len(images)))
    assert np.abs(step_logits - full_logits).max() < 1e-4


def test_batch_equals_one_by_one(onnx_fp32, test_images):
    batched = onnx_fp32.caption(test_images, GREEDY)
    assert batched == [onnx_fp32.caption(image, GREEDY)[0] for image in test_images]


@pytest.mark.parametrize("variant", ["int8", "q4"])
def test_weight_only_variants_do_not_depend_on_batch_mates(exported, test_images, variant):
    """Weight-only quantization computes in float: no activation scale is shared by a
    batch, so a caption does not depend on the images batched with it (docs/batch.md)."""
    runner = OnnxCaptioner(exported, variant)
    batched = runner.caption(test_images, GREEDY)
    assert batched == [runner.caption(image, GREEDY)[0] for image in test_images]


def test_variant_agreement_reported_is_what_the_variant_does(exported, model):
    """The report's agreement and captions are recomputed here from the variants' own greedy
    ids on the same sample images (a report that lied would fail)."""
    report = json.loads((exported / "verification.json").read_text())
    checks = {c["variant"]: c for c in report["checks"]}
    assert checks["fp32"]["agreement"] == 1.0
    assert checks["fp32"]["max_logit_diff"] < 1e-4
    samples = sample_images()
    assert report["images"] == list(samples)
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    eos = model.format.eos_id
    torch_ids = _ids(generate_ids(model, model.preprocess(list(samples.values())), gen), eos)
    for variant in ("int8", "q4", "fp16"):
        runner = OnnxCaptioner(exported, variant)
        ids = _ids(runner.generate_ids(runner.preprocess(list(samples.values())), gen), eos)
        same = sum(a == b for a, b in zip(ids, torch_ids, strict=True))
        assert checks[variant]["agreement"] == same / len(samples), variant
        assert checks[variant]["captions"] == runner.decode(ids), variant
        assert np.isfinite(checks[variant]["max_logit_diff"])
        assert checks[variant]["identical"] is None  # no --verify-dataset: not measured
    fp32 = (exported / graph_file("decoder_model_merged", "fp32")).stat().st_size
    assert (exported / graph_file("decoder_model_merged", "int8")).stat().st_size < fp32
    assert (exported / graph_file("decoder_model_merged", "q4")).stat().st_size < fp32


@pytest.mark.parametrize("family", list(bases.LM_FAMILIES))
def test_every_family_exports_with_fp32_parity(make_config, family, tmp_path):
    model = Captioner.build(make_config(family)).eval()
    perturb_trainable(model, seed=2)
    export_captioner(model, tmp_path, quantize="none")
    report = verify_export(model, tmp_path)  # raises ParityError on any fp32 difference
    assert [c.variant for c in report.checks] == ["fp32"]
    assert report.checks[0].agreement == 1.0


def test_unsupported_family_fails_with_one_line(tokenizer, vision_dir, tmp_path, capsys):
    import transformers

    config = transformers.GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id)
    torch.manual_seed(0)
    with hf_quiet():
        transformers.GPTNeoXForCausalLM(config).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    captioner = Captioner.build(CaptionerConfig(
        encoder=EncoderConfig(name_or_path=str(vision_dir)),
        decoder=DecoderConfig(name_or_path=str(tmp_path / "lm"))))
    captioner.save_pretrained(tmp_path / "model")
    code = main(["export", str(tmp_path / "model"), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "'gpt_neox'" in err and "llama, qwen2, phi3, gpt2" in err


def test_parity_failure_is_one_line(exported, make_config, tmp_path):
    other = Captioner.build(make_config("llama")).eval()
    perturb_trainable(other, seed=9)  # not the model that was exported
    copy = shutil.copytree(exported, tmp_path / "copy")
    with pytest.raises(ParityError) as info:
        verify_export(other, copy)
    message = str(info.value)
    assert "fp32" in message and "\n" not in message


def test_export_refuses_to_overwrite_a_checkpoint(trained_dir, tmp_path, capsys):
    shutil.copytree(trained_dir, tmp_path / "other")
    code = main(["export", str(trained_dir), "--output-dir", str(tmp_path / "other")])
    assert code == 2 and "refusing to overwrite" in capsys.readouterr().err


def test_caption_command_detects_an_export(trained_dir, exported, images, capsys):
    assert main(["caption", str(trained_dir), str(images[0])]) == 0
    torch_caption = capsys.readouterr().out
    assert main(["caption", str(exported), str(images[0])]) == 0
    assert capsys.readouterr().out == torch_caption
    assert main(["caption", str(exported), str(images[0]), "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--backend onnx" in err


@pytest.mark.skipif(not (builtin_dir("tiny-lm") / "config.json").is_file(),
                    reason="the built-in tiny bases are not built (make tiny-bases)")
def test_tiny_preset_exports_with_fp32_parity(tmp_path):
    model = Captioner.build(preset("tiny")).eval()
    with torch.no_grad():  # the tiny preset standardises features: fit its statistics
        side = model.encoder.tower.config.image_size
        model.projector.standardizer.fit(model.encoder(torch.randn(32, 3, side, side)))
    perturb_trainable(model, seed=4)
    export_captioner(model, tmp_path, quantize="int8")
    report = verify_export(model, tmp_path)
    assert report.checks[0].agreement == 1.0


@pytest.fixture(scope="module")
def trained_report(shapes_model_dir, shapes_export_dir):
    """The trained tiny model's variants verified on 48 shapes test images (one greedy run
    per variant gives both the identical-caption rate and the metric change)."""
    model = Captioner.from_pretrained(shapes_model_dir)
    cfg = ExportConfig(verify_dataset="shapes", verify_samples=48)
    return verify_export(model, shapes_export_dir, cfg)


def test_trained_variants_keep_captions_and_the_threshold_can_fail(trained_report):
    """Every variant (fp32, int8, q4, fp16) passes the default threshold; a threshold above a
    variant's rate fails with one line naming it."""
    report = trained_report
    rates = {c.variant: c.identical for c in report.checks}
    assert report.dataset_images == 48 and rates["fp32"] == 1.0
    assert sorted(rates) == ["fp16", "fp32", "int8", "q4"]
    assert all(rate >= ExportConfig().min_identical for rate in rates.values()), rates
    worst = min(report.checks, key=lambda c: c.identical)
    if worst.identical < 1.0:
        with pytest.raises(FidelityError) as info:
            check_fidelity(report, (worst.identical * 48 + 1) / 48)
        assert worst.variant in str(info.value) and "\n" not in str(info.value)


def test_q4_keeps_captions_of_the_trained_model(trained_report):
    """q4 (base weights in 4-bit min-max blocks, LoRA unmerged at 8 bits) passes the default
    threshold; on the real-LM captioner it kept 99.5% of 200 captions (docs/onnx-export.md)."""
    check_fidelity(trained_report, ExportConfig().min_identical)
    q4 = next(c for c in trained_report.checks if c.variant == "q4")
    assert q4.identical >= ExportConfig().min_identical


def test_export_fails_when_a_variant_is_below_min_identical(trained_dir, tmp_path, capsys):
    """The random-weight test model has near-flat logits: its INT8 captions differ from
    torch's on some shapes scenes, so asking for all of them identical fails the export.
    Eight scenes are enough: INT8's captions equal torch's on 1 of the first 8, 1 of 12 and
    4 of 24 (measured), so the one differing caption the failure needs is not down to chance."""
    code = main(["export", str(trained_dir), "--output-dir", str(tmp_path / "out"),
                 "--quantize", "int8", "--verify-dataset", "shapes", "--verify-samples", "8",
                 "--min-identical", "1.0"])
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "verification.json").read_text())
    int8 = next(c for c in report["checks"] if c["variant"] == "int8")
    assert int8["identical"] < 1.0, "the test needs a variant that differs"
    assert code == 1 and captured.err.count("\n") == 1
    assert captured.err.startswith("error: ") and "int8" in captured.err
    assert "identical captions to torch on 8 test images" in captured.out
    assert main(["export", str(trained_dir), "--output-dir", str(tmp_path / "out"),
                 "--min-identical", "1.5"]) == 2


def test_int8_and_q4_are_weight_only(exported):
    """Weights in 8 (int8) or 4 bits (q4: the base weights, LoRA kept unmerged beside them
    with the LM head at 8) with float compute: no activation is quantized at run time
    (dynamic INT8 was unfaithful on a real LM, docs/onnx-export.md); the embedding table is
    in 8-bit blocks (uint8 rows and float scales) with float32 in and out."""
    def nodes(variant: str, graph: str = "decoder_model_merged") -> list:
        return list(onnx.load(str(exported / graph_file(graph, variant))).graph.node)

    def bits(node) -> int:
        return next(a.i for a in node.attribute if a.name == "bits")

    fp32_weights = [n.name for n in nodes("fp32") if n.op_type == "MatMul"
                    and n.input[1].startswith("onnx::")]
    for variant in ("int8", "q4"):
        decoder = nodes(variant)
        assert not [n for n in decoder if n.op_type.startswith("DynamicQuantize")]
        nbits = {n.name.removesuffix("_Q8").removesuffix("_Q4"): bits(n) for n in decoder
                 if n.op_type == "MatMulNBits"}
        layers = tuple({n.split("/base_layer/")[0] + "/" for n in nbits if "/base_layer/" in n})
        lora = {n for n in nbits if "/base_layer/" not in n and layers and n.startswith(layers)}
        assert bool(lora) == (variant == "q4") and {nbits[name] for name in lora} <= {8}
        base = {name.replace("/base_layer", ""): b for name, b in nbits.items()
                if name not in lora}
        assert base == {name: 4 if variant == "q4" and "lm_head" not in name else 8
                        for name in fp32_weights}, variant
        embed = onnx.load(str(exported / graph_file("embed_tokens", variant)))
        assert [i.type.tensor_type.elem_type for i in embed.graph.output] == [
            onnx.TensorProto.FLOAT]
        inits = {t.name: t.data_type for t in embed.graph.initializer}
        gathered = sorted(inits[n.input[0]] for n in embed.graph.node
                          if n.op_type == "Gather" and n.input[0] in inits)
        assert gathered == [onnx.TensorProto.FLOAT, onnx.TensorProto.UINT8]  # scales, rows
        assert len([t for t in embed.graph.initializer if len(t.dims) >= 2 and t.data_type in (
            onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]) == 1  # only the scales
