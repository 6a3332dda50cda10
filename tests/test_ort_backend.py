import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from distilvit.caption_model import open_model
from distilvit.cli import main
from distilvit.config import GenerationConfig
from distilvit.errors import ImageError, ModelDirError, UsageError
from distilvit.images import load_image
from distilvit.ort import OnnxCaptioner
from distilvit.ort.decoding import Cache, Rules, greedy, process
from distilvit.ort.files import graph_file
from distilvit.ort.preprocess import ImagePreprocessor
from export_fixtures import awkward_images, export_once


@pytest.fixture(scope="module")
def exported(trained_dir, tmp_path_factory):
    return export_once(trained_dir, tmp_path_factory)


def test_backend_imports_and_captions_without_torch(exported, images):
    script = textwrap.dedent(f"""
        import sys
        from distilvit.ort import OnnxCaptioner
        captions = OnnxCaptioner({str(exported)!r}, "int8").caption([{str(images[0])!r}])
        assert isinstance(captions[0], str)
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("torch", "transformers", "peft"))
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_preprocessing_matches_the_torch_image_processor(trained_dir, tmp_path, images):
    from transformers import AutoImageProcessor

    hf = AutoImageProcessor.from_pretrained(trained_dir, backend="pil")
    ours = ImagePreprocessor.from_file(trained_dir / "preprocessor_config.json")
    big = Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 200, 3), np.uint8))
    rgb = [load_image(p) for p in images + awkward_images(tmp_path)] + [big]
    expected = hf(images=rgb, return_tensors="np")["pixel_values"]
    assert np.array_equal(ours(rgb), expected)


def test_shortest_edge_and_centre_crop_match_clip_processing(images):
    import transformers

    hf = transformers.CLIPImageProcessorPil(size={"shortest_edge": 24},
                                            crop_size={"height": 20, "width": 20})
    ours = ImagePreprocessor(hf.to_dict())
    rgb = [load_image(p) for p in images]
    expected = hf(images=rgb, return_tensors="np")["pixel_values"]
    assert np.array_equal(ours(rgb), expected)


def test_bad_images_fail_as_in_the_torch_path(exported, images, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = OnnxCaptioner(exported)
    for bad in (broken, tmp_path / "missing.png", b""):
        with pytest.raises(ImageError) as onnx_error:
            model.caption([images[0], bad])
        with pytest.raises(ImageError) as expected:
            load_image(bad)  # the torch path's reader
        assert str(onnx_error.value) == str(expected.value)


def test_caption_cli_on_an_export_with_a_corrupt_file(exported, images, capsys):
    folder = images[0].parent
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then not an image")
    code = main(["caption", str(exported), str(folder), "--json", "--onnx-variant", "int8",
                 "--num-beams", "2"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    assert sorted(r["image"] for r in rows if "caption" in r) == sorted(map(str, images))
    assert [r["image"] for r in rows if "error" in r] == [str(folder / "broken.png")]
    assert captured.err.count("\n") == 1


def test_missing_variant_and_non_export_are_one_line_errors(exported, trained_dir, tmp_path):
    copy = shutil.copytree(exported, tmp_path / "copy")
    (copy / graph_file("decoder_model_merged", "fp16")).unlink()
    with pytest.raises(ModelDirError, match="no fp16 graphs"):
        OnnxCaptioner(copy, "fp16")
    with pytest.raises(ModelDirError, match="run `distilvit export` first"):
        OnnxCaptioner(trained_dir)


def test_sampling_is_refused(exported, images):
    with pytest.raises(UsageError, match="--backend torch"):
        OnnxCaptioner(exported).caption(images[:1], do_sample=True)


def test_generation_defaults_come_from_the_export(trained_dir, tmp_path):
    """Settings unlike the library's defaults survive export and load: they were read."""
    from distilvit.export.onnx_export import export_captioner
    from distilvit.model import Captioner

    model = Captioner.from_pretrained(trained_dir)
    own = GenerationConfig(max_new_tokens=17, min_new_tokens=2, num_beams=3,
                           repetition_penalty=1.3, no_repeat_ngram_size=2, bad_words=("zz",))
    assert all(getattr(own, f.name) != getattr(GenerationConfig(), f.name)
               for f in dataclasses.fields(own) if f.name not in ("do_sample", "temperature",
                                                                  "top_k", "top_p", "seed"))
    model.config.generation = own
    export_captioner(model, tmp_path / "out", quantize="none")
    assert OnnxCaptioner(tmp_path / "out").generation == own
    assert open_model(tmp_path / "out").generation == own


def test_greedy_pads_finished_rows_and_stops_when_all_end():
    """A toy decoder: row 0 says EOS (id 0) at once, row 1 after three tokens."""
    script = {0: [0], 1: [5, 6, 7, 0]}

    def step(tokens, cache):
        t = cache.length
        logits = np.zeros((2, 9), np.float32)
        for row in range(2):
            seq = script[row]
            logits[row, seq[min(t, len(seq) - 1)]] = 1.0
        return logits, Cache([np.zeros((2, 1, t + 1, 1))])

    first, cache = step(None, Cache([np.zeros((2, 1, 0, 1))]))
    out = greedy(step, first, cache, Rules(max_new_tokens=10, eos_id=0, pad_id=8))
    assert out.tolist() == [[0, 8, 8, 8], [5, 6, 7, 0]]


def test_min_new_tokens_masks_eos():
    scores = np.zeros((1, 4), np.float32)
    rules = Rules(max_new_tokens=5, eos_id=2, pad_id=2, min_new_tokens=2)
    assert process(scores, np.zeros((1, 1), np.int64), rules)[0, 2] == -np.inf
    assert process(scores, np.zeros((1, 2), np.int64), rules)[0, 2] == 0.0
