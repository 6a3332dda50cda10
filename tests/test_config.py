import dataclasses
from pathlib import Path

import pytest

from distilvit.cli_args import apply_args
from distilvit.config import (
    PRESETS,
    CaptionerConfig,
    CheckpointConfig,
    DataConfig,
    DemoConfig,
    EvalConfig,
    ExportConfig,
    GenerationConfig,
    InferenceConfig,
    LoraConfig,
    MergeConfig,
    OptimConfig,
    ProjectorConfig,
    TrainConfig,
    preset,
)
from distilvit.errors import UsageError
from distilvit.quality.config import DebiasConfig, LLMConfig, PromptsConfig, QualityConfig
from distilvit.serve.config import BatchConfig, GradioConfig, LimitsConfig, ServeConfig


def test_presets_are_fresh_and_distinct():
    base = preset("base")
    base.lora.r = 99
    assert preset("base").lora.r == 16
    assert preset("seed-compatible").projector.type == "linear"
    assert preset("seed-compatible").projector.pixel_shuffle_factor == 1
    assert preset("base").projector.pixel_shuffle_factor == 2
    assert preset("tiny").encoder.name_or_path.startswith("builtin:")
    assert set(PRESETS) >= {"base", "modern", "large", "tiny", "seed-compatible"}


def test_round_trip_through_dict():
    config = preset("large")
    config.generation.bad_words = ("man", "woman")
    again = CaptionerConfig.from_dict(config.to_dict())
    assert again == config


def test_unknown_keys_are_rejected():
    data = preset("base").to_dict()
    data["projector"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        CaptionerConfig.from_dict(data)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_train_config_sections_route_flat_names():
    cfg = TrainConfig.flat(batch_size=8, output_dir="runs/x", dataset=("coco",), compile="off",
                           seed=3)
    assert cfg.optim.batch_size == 8 and cfg.checkpointing.output_dir == "runs/x"
    assert cfg.data == DataConfig(dataset=("coco",), seed=3) and cfg.runtime.compile == "off"
    with pytest.raises(TypeError):
        TrainConfig.flat(bogus=1)


def test_eval_reuses_the_data_section():
    types = {f.name: f.type for f in dataclasses.fields(EvalConfig)}
    assert types["data"] in ("DataConfig", DataConfig)
    run = TrainConfig.flat(dataset=("shapes",), sample=7, seed=2)
    assert EvalConfig(data=run.data).data.sample == 7


@pytest.mark.parametrize(("build", "message"), [
    (lambda: CaptionerConfig(max_length=1), "--max-length must be >= 2 (got 1)"),
    (lambda: ProjectorConfig(pixel_shuffle_factor=0), "--pixel-shuffle-factor must be >= 1"),
    (lambda: LoraConfig(dropout=1.0), "--lora-dropout must be < 1 (got 1)"),
    (lambda: LoraConfig(r=-1), "--lora-r must be >= 0 (got -1)"),
    (lambda: GenerationConfig(num_beams=0), "--num-beams must be >= 1 (got 0)"),
    (lambda: GenerationConfig(top_p=0.0), "--top-p must be > 0 (got 0)"),
    (lambda: GenerationConfig(top_p=1.5), "--top-p must be <= 1 (got 1.5)"),
    (lambda: GenerationConfig(temperature=0.0), "--temperature must be > 0"),
    (lambda: GenerationConfig(min_new_tokens=5, max_new_tokens=4),
     "--min-new-tokens 5 is larger than --max-new-tokens 4"),
    (lambda: OptimConfig(batch_size=0), "--batch-size must be >= 1 (got 0)"),
    (lambda: OptimConfig(lora_lr=float("nan")), "--lora-lr must be a finite number"),
    (lambda: OptimConfig(warmup_ratio=2), "--warmup-ratio must be <= 1 (got 2)"),
    (lambda: CheckpointConfig(log_every=0), "--log-every must be >= 1 (got 0)"),
    (lambda: InferenceConfig(batch_size=0), "--batch-size must be >= 1"),
    (lambda: TrainConfig(preset="huge"), "--preset 'huge' is unknown"),
    (lambda: ExportConfig(verify_samples=0), "--verify-samples must be >= 1"),
    (lambda: QualityConfig(min_words=9, max_words=3), "--min-words 9 is larger"),
    (lambda: LLMConfig(llm_timeout=0), "--llm-timeout must be > 0"),
    (lambda: PromptsConfig(prompts_per_object=0), "--prompts-per-object must be >= 1"),
    (lambda: ServeConfig(port=70000), "--port must be <= 65535"),
    (lambda: BatchConfig(max_batch_size=0), "--max-batch-size must be >= 1"),
    (lambda: LimitsConfig(max_upload_mb=0), "--max-upload-mb must be > 0"),
    (lambda: MergeConfig(sample=-1), "--sample must be >= 0 (got -1)"),
    (lambda: DemoConfig(port=-1), "--port must be >= 0"),
])
def test_configs_check_themselves(build, message):
    with pytest.raises(UsageError) as info:
        build()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_presets_and_defaults_are_valid():
    for name in PRESETS:
        preset(name)  # __post_init__ of every section ran
    for cls in (TrainConfig, EvalConfig, ExportConfig, QualityConfig, LLMConfig,
                DebiasConfig, PromptsConfig, ServeConfig, GradioConfig, LimitsConfig,
                BatchConfig, MergeConfig, DemoConfig, InferenceConfig):
        cls()


def test_replace_checks_and_apply_args_copies():
    import argparse

    gen = GenerationConfig()
    with pytest.raises(UsageError, match="--num-beams"):
        dataclasses.replace(gen, num_beams=0)
    args = argparse.Namespace(**{"train__optim__batch_size": 4, "train__data__sample": 5})
    base = TrainConfig()
    applied = apply_args(base, args, "train")
    assert applied.optim.batch_size == 4 and applied.data.sample == 5
    assert base == TrainConfig()  # the caller's config is not mutated


def test_one_help_helper_and_one_caption_batch_default():
    import distilvit

    root = Path(distilvit.__file__).parent
    defining = [p.relative_to(root) for p in root.rglob("*.py")
                if "def _help(" in p.read_text()]
    assert defining == []  # every config module uses distilvit.options.option
    assert InferenceConfig().batch_size == EvalConfig().inference.batch_size
