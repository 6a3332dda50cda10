"""The vision-encoder-decoder layout (`--layout vision-encoder-decoder`) against torch and the
LLaVA layout, on the model trained briefly on shapes (decisive logits)."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import perturb_trainable
from distilvit import bases
from distilvit.cli import main
from distilvit.config import GenerationConfig, ShapesConfig
from distilvit.data.synthetic import make_example
from distilvit.export import ved
from distilvit.export.verify import torch_first_logits
from distilvit.generate import generate_ids
from distilvit.model import Captioner
from distilvit.ort import OnnxCaptioner
from distilvit.ort.files import graph_file
from distilvit.tokens import until_eos
from export_fixtures import awkward_images

VED = ["--layout", "vision-encoder-decoder"]


@pytest.fixture(scope="module")
def ved_dir(shapes_ved_dir):
    """The shapes model exported as VED, every variant; the export's own fp32 check ran."""
    return shapes_ved_dir


@pytest.fixture(scope="module")
def model(shapes_model_dir):
    return Captioner.from_pretrained(shapes_model_dir)


@pytest.fixture(scope="module")
def scenes() -> list[Image.Image]:
    """Shapes test scenes at the model's input size, as the model was trained."""
    return [make_example("test", i, ShapesConfig()).image for i in range(6)]


@pytest.fixture()
def odd_images(scenes, tmp_path) -> list:
    """Other sizes and modes: a scene upscaled, one non-square, plus RGBA/gray/palette files."""
    return [scenes[0].resize((96, 96)), scenes[1].resize((80, 50))] + awkward_images(tmp_path)


def _ids(rows, eos) -> list[list[int]]:
    return [until_eos(list(r), eos) for r in np.asarray(rows).tolist()]


def transformers_js_greedy(folder, variant: str, pixels: np.ndarray, steps: int,
                           eos: int) -> list[int]:
    """The loop transformers.js runs for a VisionEncoderDecoderModel, one image, in onnxruntime.

    Encoder once; decoder fed `[[decoder_start_token_id]]`, the full encoder output every step,
    and an empty past whose named dims (other than batch_size) are set to 0.
    """
    config = json.loads((folder / "config.json").read_text())
    encoder = ort.InferenceSession(str(folder / graph_file(ved.ENCODER, variant)))
    decoder = ort.InferenceSession(str(folder / graph_file(ved.DECODER, variant)))
    float_type = np.float16 if "float16" in decoder.get_inputs()[1].type else np.float32
    hidden = encoder.run(None, {"pixel_values": pixels.astype(np.float32)})[0]
    past = {i.name: np.zeros([1 if d == "batch_size" else 0 if isinstance(d, str) else d
                              for d in i.shape], dtype=float_type)
            for i in decoder.get_inputs() if i.name.startswith("past_key_values")}
    token, out = config["decoder_start_token_id"], []
    names = [o.name for o in decoder.get_outputs()]
    for _ in range(steps):
        logits, *present = decoder.run(None, {"input_ids": np.array([[token]]),
                                              "encoder_hidden_states": hidden, **past})
        token = int(logits[0, -1].astype(np.float32).argmax())
        out.append(token)
        past = {n.replace("present", "past_key_values"): a
                for n, a in zip(names[1:], present, strict=True)}
        if token == eos:
            break
    return out


def test_files_and_configs_follow_transformers_js_vision_encoder_decoder(ved_dir, model):
    for graph in ved.GRAPHS:
        for variant in ("fp32", "int8", "q4", "fp16"):
            assert (ved_dir / graph_file(graph, variant)).is_file()
    assert not (ved_dir / "onnx" / "vision_encoder.onnx").exists()
    assert not (ved_dir / "processor_config.json").exists()
    config = json.loads((ved_dir / "config.json").read_text())
    assert config["model_type"] == "vision-encoder-decoder" and config["is_encoder_decoder"]
    assert config["decoder_start_token_id"] == model.format.separator_id
    assert config["decoder"]["model_type"] == "llama"
    assert config["encoder"]["image_size"] == model.encoder.tower.config.image_size
    assert config["distilvit_export"]["layout"] == "vision-encoder-decoder"
    generation = json.loads((ved_dir / "generation_config.json").read_text())
    assert generation["decoder_start_token_id"] == model.format.separator_id
    assert generation["max_new_tokens"] == model.config.generation.max_new_tokens
    pre = json.loads((ved_dir / "preprocessor_config.json").read_text())
    assert "processor_class" not in pre and pre["image_processor_type"]
    tokens = json.loads((ved_dir / "tokenizer.json").read_text())["added_tokens"]
    assert "<image>" not in {t["content"] for t in tokens}


def test_graph_signatures(ved_dir, model):
    encoder = ort.InferenceSession(str(ved_dir / graph_file(ved.ENCODER, "fp32")))
    assert [o.name for o in encoder.get_outputs()] == ["last_hidden_state"]
    decoder = ort.InferenceSession(str(ved_dir / graph_file(ved.DECODER, "fp32")))
    inputs = {i.name: i.shape for i in decoder.get_inputs()}
    layers = model.lm.config.num_hidden_layers
    cache = [f"{i}.{k}" for i in range(layers) for k in ("key", "value")]
    # No attention_mask / position_ids: the graph makes them (transformers.js's would be short).
    assert list(inputs) == ["input_ids", "encoder_hidden_states",
                            *(f"past_key_values.{c}" for c in cache)]
    heads, dim = model.lm.config.num_key_value_heads, model.lm.config.head_dim
    assert inputs["past_key_values.0.key"] == ["batch_size", heads, "past_sequence_length", dim]
    assert [o.name for o in decoder.get_outputs()] == ["logits", *(f"present.{c}" for c in cache)]


def test_transformers_js_loop_equals_torch_and_the_llava_layout(ved_dir, shapes_export_dir,
                                                                model, scenes, odd_images):
    """The invariant the browser test relies on, on every image size and mode."""
    llava = OnnxCaptioner(shapes_export_dir, "fp32")
    gen = GenerationConfig(max_new_tokens=model.config.generation.max_new_tokens)
    eos = model.format.eos_id
    images = scenes + odd_images
    pixels = llava.preprocess(images)
    expected = _ids(generate_ids(model, model.preprocess(images), gen), eos)
    assert _ids(llava.generate_ids(pixels, gen), eos) == expected
    for row, want in zip(pixels, expected, strict=True):
        got = transformers_js_greedy(ved_dir, "fp32", row[None], gen.max_new_tokens, eos)
        assert until_eos(got, eos) == want


def test_first_step_logits_equal_torch(ved_dir, model, scenes):
    runner = ved.VedCaptioner(ved_dir, "fp32")
    logits, _ = runner.prefill(runner.preprocess(scenes))
    reference = torch_first_logits(model, model.preprocess(scenes))
    assert np.abs(logits - reference).max() < 1e-4


def test_beam_search_over_the_ved_graphs_equals_the_llava_layout(ved_dir, shapes_export_dir,
                                                                 scenes, odd_images):
    """Later steps with a zero-length prefix, rows changing with the beams."""
    beams = GenerationConfig(max_new_tokens=12, num_beams=3)
    runner, llava = ved.VedCaptioner(ved_dir), OnnxCaptioner(shapes_export_dir)
    images = scenes[:3] + odd_images[:2]
    assert runner.caption(images, beams) == llava.caption(images, beams)


@pytest.mark.parametrize("variant", ["int8", "q4", "fp16"])
def test_variants_decode_as_the_llava_layout_variants(ved_dir, shapes_export_dir, scenes,
                                                      variant):
    """Same weights quantized the same way: native onnxruntime picks the same tokens."""
    runner, llava = ved.VedCaptioner(ved_dir, variant), OnnxCaptioner(shapes_export_dir, variant)
    gen = GenerationConfig(max_new_tokens=20)
    assert runner.caption(scenes, gen) == llava.caption(scenes, gen)
    report = json.loads((ved_dir / "verification.json").read_text())
    checks = {c["variant"]: c for c in report["checks"]}
    assert checks["fp32"]["agreement"] == 1.0 and 0.0 <= checks[variant]["agreement"] <= 1.0


@pytest.mark.parametrize("family", list(bases.LM_FAMILIES))
def test_every_family_exports_with_fp32_parity(make_config, family, tmp_path):
    captioner = Captioner.build(make_config(family)).eval()
    perturb_trainable(captioner, seed=3)
    ved.export_ved(captioner, tmp_path, quantize="none")
    report = ved.verify_ved(captioner, tmp_path)  # raises ParityError on any fp32 difference
    assert [(c.variant, c.agreement) for c in report.checks] == [("fp32", 1.0)]


def test_reexport_switches_layout_without_stale_files(trained_dir, tmp_path):
    out = tmp_path / "out"
    quick = ["--quantize", "none", "--no-verify"]
    assert main(["export", str(trained_dir), "--output-dir", str(out), *quick]) == 0
    assert (out / "processor_config.json").is_file()
    assert main(["export", str(trained_dir), "--output-dir", str(out), *VED, *quick]) == 0
    assert sorted(p.name for p in (out / "onnx").iterdir()) == ["decoder_model_merged.onnx",
                                                                 "encoder_model.onnx"]
    assert not (out / "processor_config.json").exists()
    assert main(["export", str(trained_dir), "--output-dir", str(out), *quick]) == 0
    assert OnnxCaptioner(out).caption(Image.new("RGB", (32, 32)), max_new_tokens=3)


def test_verify_dataset_measures_the_ved_graphs(trained_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["export", str(trained_dir), "--output-dir", str(out), *VED, "--quantize",
                 "none", "--verify-dataset", "shapes", "--verify-samples", "6"])
    report = json.loads((out / "verification.json").read_text())
    assert code == 0 and report["torch_metrics"]
    # fp32 reproduces torch, so its metrics do not move
    assert all(abs(v) < 1e-9 for v in report["checks"][0]["metric_change"].values())


def test_caption_cli_reads_either_layout(ved_dir, shapes_export_dir, scenes, capsys):
    from distilvit.ort import open_captioner

    image = scenes[0]
    assert isinstance(open_captioner(ved_dir), ved.VedCaptioner)
    assert open_captioner(ved_dir).caption(image) == OnnxCaptioner(shapes_export_dir).caption(image)


def test_help_lists_the_layout_flag(capsys):
    assert main(["export", "--help"]) == 0
    assert "--layout {llava,vision-encoder-decoder}" in capsys.readouterr().out


def test_ved_runtime_refuses_a_llava_folder(shapes_export_dir):
    from distilvit.errors import ModelDirError

    with pytest.raises(ModelDirError, match="a llava export, not vision-encoder-decoder"):
        ved.VedCaptioner(shapes_export_dir)
