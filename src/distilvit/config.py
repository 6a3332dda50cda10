"""Dataclass configs: the one source of defaults for the model, generation and the CLI.

Every CLI flag and its help text is derived from these fields (see `distilvit.cli_args`).
A field's `metadata["help"]` is its help text; `metadata["flag"]` overrides the flag name
where the seed's CLI used a different one (e.g. `--encoder-model`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

# Built-in tiny bases shipped as package data (built by `make tiny-bases`).
BUILTIN_PREFIX = "builtin:"


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass
class EncoderConfig:
    name_or_path: str = field(
        default="google/siglip-base-patch16-224",
        metadata=_help("vision tower: Hub id or local path; its image processor is loaded "
                       "from the same place", flag="--encoder-model"),
    )
    unfreeze_last_n_layers: int = field(
        default=0,
        metadata=_help("train the last N vision layers (0 = tower fully frozen)",
                       flag="--unfreeze-vision-layers"),
    )


@dataclass
class ProjectorConfig:
    type: Literal["linear", "mlp"] = field(
        default="mlp", metadata=_help("projector kind", flag="--projection-type"))
    pixel_shuffle_factor: int = field(
        default=2,
        metadata=_help("merge k*k neighbouring patches into one prefix token (1 = off)"),
    )
    hidden_size: int = field(
        default=0, metadata=_help("MLP hidden width (0 = the language model's hidden size)"))
    standardize: bool = field(
        default=False,
        metadata=_help("standardise each patch feature with training-set statistics first"))
    position_embedding: bool = field(
        default=False,
        metadata=_help("add a learned embedding per prefix token, so the LM knows where each "
                       "token sits in the image"))


@dataclass
class DecoderConfig:
    name_or_path: str = field(
        default="HuggingFaceTB/SmolLM-135M",
        metadata=_help("causal language model: Hub id or local path", flag="--decoder-model"),
    )


@dataclass
class LoraConfig:
    r: int = field(default=16, metadata=_help("LoRA rank (0 = no LoRA, LM frozen)",
                                              flag="--lora-r"))
    alpha: int = field(default=32, metadata=_help("LoRA alpha", flag="--lora-alpha"))
    # 0, PEFT's own default: at 0.05 the dropout masks took ~20% of a base-architecture
    # training step on the CPU (bench/train_throughput.py).
    dropout: float = field(default=0.0, metadata=_help("LoRA dropout", flag="--lora-dropout"))
    target_modules: str = field(
        default="auto",
        metadata=_help("'auto' (attention projections of the architecture), 'all-linear', "
                       "or comma-separated module names", flag="--lora-targets"),
    )


@dataclass
class GenerationConfig:
    max_new_tokens: int = field(default=30, metadata=_help("longest caption, in tokens"))
    min_new_tokens: int = field(default=0, metadata=_help("shortest caption, in tokens"))
    num_beams: int = field(default=1, metadata=_help("beam width (1 = greedy)"))
    do_sample: bool = field(default=False, metadata=_help("sample instead of greedy/beam"))
    temperature: float = field(default=1.0, metadata=_help("sampling temperature"))
    top_k: int = field(default=0, metadata=_help("sample among the k likeliest (0 = off)"))
    top_p: float = field(default=1.0, metadata=_help("nucleus sampling mass (1 = off)"))
    repetition_penalty: float = field(default=1.0, metadata=_help("1 = off"))
    no_repeat_ngram_size: int = field(default=0, metadata=_help("forbid repeated n-grams"))
    bad_words: tuple[str, ...] = field(
        default=(), metadata=_help("words never to generate"))
    seed: int = field(default=0, metadata=_help("random seed for sampling"))


@dataclass
class CaptionerConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    max_length: int = field(
        default=32, metadata=_help("caption tokens kept in training, EOS included"))
    separator_token: str = field(
        default="",
        metadata=_help("token between image prefix and caption ('' = the tokenizer's BOS, "
                       "else its EOS)"),
    )
    trust_remote_code: bool = field(
        default=False, metadata=_help("allow model code from the Hub (off: safer)"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptionerConfig:
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild nested dataclasses; unknown keys are an error, not silently dropped."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        sub = _dataclass_type(fields[name])
        if sub is not None and isinstance(value, dict):
            kwargs[name] = _from_dict(sub, value)
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _dataclass_type(f: dataclasses.Field) -> type | None:
    factory = f.default_factory
    if factory is not dataclasses.MISSING and dataclasses.is_dataclass(factory):
        return factory  # type: ignore[return-value]
    return None


def _preset(encoder: str, decoder: str, **projector: Any) -> CaptionerConfig:
    return CaptionerConfig(
        encoder=EncoderConfig(name_or_path=encoder),
        decoder=DecoderConfig(name_or_path=decoder),
        projector=ProjectorConfig(**projector),
    )


def _tiny() -> CaptionerConfig:
    # Standardising per patch position removes the position the tower had mixed into each
    # feature; the learned position embedding gives it back.
    cfg = _preset(BUILTIN_PREFIX + "tiny-vision", BUILTIN_PREFIX + "tiny-lm", standardize=True,
                  position_embedding=True)
    # All linear layers: with attention-only LoRA (r=8) the tiny LM could not route the image
    # into colour/shape words (attribute accuracy 0.03 vs 0.44 after the same 1,250 steps).
    cfg.lora = LoraConfig(r=16, alpha=32, dropout=0.0, target_modules="all-linear")
    cfg.generation = GenerationConfig(max_new_tokens=24)
    return cfg


# so400m/14 at 384 px has a 27x27 patch grid: k=3 gives 81 tokens (k=2 does not divide it).
PRESETS: dict[str, Any] = {
    "base": lambda: _preset("google/siglip-base-patch16-224", "HuggingFaceTB/SmolLM-135M"),
    "seed-compatible": lambda: _preset(
        "google/siglip-base-patch16-224", "HuggingFaceTB/SmolLM-135M",
        type="linear", pixel_shuffle_factor=1),
    "modern": lambda: _preset("google/siglip2-base-patch16-224", "HuggingFaceTB/SmolLM-360M"),
    "large": lambda: _preset("google/siglip-so400m-patch14-384", "HuggingFaceTB/SmolLM-1.7B",
                             pixel_shuffle_factor=3),
    "tiny": _tiny,
}


def preset(name: str) -> CaptionerConfig:
    """A fresh config for a named preset (callers may mutate it freely)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]()


@dataclass
class InferenceConfig:
    batch_size: int = field(default=8, metadata=_help("images captioned together"))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))


@dataclass
class ShapesConfig:
    """The synthetic `shapes` scenes (see distilvit.data.synthetic)."""

    image_size: int = 96  # the tiny tower's input: 3x3 cells of 2x2 patches of 16 px
    max_objects: int = 3
    repeat_rate: float = 0.25  # chance an object repeats an earlier kind (so counts occur)
    captions_per_image: int = 3
    train_size: int = 20_000
    validation_size: int = 300
    test_size: int = 500
    seed: int = 0
    rare_shapes: tuple[str, ...] = ()  # skewed frequencies, for the dataset tools
    rare_colours: tuple[str, ...] = ()
    rare_rate: float = 0.05  # relative weight of a rare shape or colour


@dataclass
class TrainConfig:
    """Training run settings; flag names keep the seed's (`--num-train-epochs`, ...)."""

    preset: str = field(default="tiny", metadata=_help("model preset the flags below modify"))
    dataset: tuple[str, ...] = field(
        default=("shapes",), metadata=_help("dataset names (see docs/datasets.md)"))
    dataset_path: str = field(
        default="", metadata=_help("local copy of the (single) dataset instead of the Hub"))
    sample: int = field(default=0, metadata=_help("cap every source at N images (0 = all)"))
    num_train_epochs: float = field(default=3.0, metadata=_help("passes over the training set"))
    max_steps: int = field(default=0, metadata=_help("stop after N optimizer steps (0 = off)"))
    max_minutes: float = field(
        default=0.0, metadata=_help("stop training after this wall time (0 = off)"))
    batch_size: int = field(default=32, metadata=_help("images per micro-batch"))
    gradient_accumulation_steps: int = field(default=1, metadata=_help("micro-batches per step"))
    projection_lr: float = field(default=1e-3, metadata=_help("projector learning rate"))
    lora_lr: float = field(default=5e-4, metadata=_help("LoRA learning rate"))
    vision_lr: float = field(default=2e-5, metadata=_help("unfrozen vision layers' rate"))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay"))
    warmup_ratio: float = field(default=0.05, metadata=_help("share of steps warming up"))
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping (0 = off)"))
    precision: Literal["auto", "bf16", "fp32"] = field(
        default="auto", metadata=_help("'auto' = bf16 autocast where the hardware has it"))
    compile: Literal["auto", "on", "off"] = field(
        default="auto", metadata=_help("torch.compile each LM decoder layer for the training "
                                       "steps; 'auto' = on for CPU runs of >= 1000 steps when "
                                       "a C++ compiler is found"))
    eval_every: int = field(default=0, metadata=_help("validate every N steps (0 = per epoch)"))
    eval_samples: int = field(default=200, metadata=_help("validation images scored"))
    early_stopping_patience: int = field(
        default=0, metadata=_help("stop after N validations without improvement (0 = off)"))
    feature_cache: bool = field(
        default=True, metadata=_help("encode each image once when the tower is frozen"))
    cache_dir: str = field(default=".cache/distilvit", metadata=_help("feature cache folder"))
    clip_loss_weight: float = field(
        default=0.0, metadata=_help("weight of the CLIP alignment loss (0 = off, no model)"))
    clip_model: str = field(
        default="openai/clip-vit-base-patch32",
        metadata=_help("CLIP/SigLIP model whose text tower the prefix is aligned to"))
    output_dir: str = field(default="runs/train", metadata=_help("where the model is saved"))
    resume: bool = field(default=False, metadata=_help("continue from output_dir/checkpoint"))
    checkpoint_every: int = field(
        default=200, metadata=_help("save a resumable checkpoint every N steps"))
    log_every: int = field(default=20, metadata=_help("log metrics every N steps"))
    report_to: tuple[str, ...] = field(
        default=(), metadata=_help("also send metrics to: tensorboard (OUTPUT_DIR/tensorboard), "
                                   "wandb (project from $WANDB_PROJECT, default distilvit)"))
    seed: int = field(default=0, metadata=_help("seed for data order, init and sampling"))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))
    final_eval: bool = field(
        default=True, metadata=_help("score the saved model on the test split at the end"))


@dataclass
class EvalConfig:
    dataset: tuple[str, ...] = field(default=("shapes",), metadata=_help("dataset names"))
    dataset_path: str = field(default="", metadata=_help("local copy of the dataset"))
    split: str = field(default="test", metadata=_help("split to score"))
    sample: int = field(default=0, metadata=_help("cap every source at N images (0 = all)"))
    batch_size: int = field(default=64, metadata=_help("images captioned together"))
    blind: bool = field(
        default=False, metadata=_help("zero the image prefix: the no-image baseline"))
    json: str = field(default="", metadata=_help("write the metrics to this JSON file"))
    seed: int = field(default=0, metadata=_help("seed of seeded splits"))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))


@dataclass
class ExportConfig:
    """`distilvit export`: ONNX graphs, their variants, and the parity check against torch."""

    layout: Literal["llava", "vision-encoder-decoder"] = field(
        default="llava", metadata=_help("graphs and configs: llava (vision_encoder + "
                                        "embed_tokens + decoder; our runtime, transformers.js "
                                        "image-text-to-text) or vision-encoder-decoder "
                                        "(encoder_model + decoder_model_merged; transformers.js "
                                        "pipeline('image-to-text'))"))
    quantize: Literal["int8", "q4", "fp16", "none", "all"] = field(
        default="int8", metadata=_help("variants written beside fp32: int8 (*_quantized.onnx), "
                                       "q4 (4-bit weights, *_q4.onnx), fp16 (*_fp16.onnx), "
                                       "all three (all) or none"))
    verify: bool = field(
        default=True, metadata=_help("run ONNX Runtime and torch on a few images; fail when "
                                     "fp32 logits or greedy tokens differ"))
    tolerance: float = field(
        default=1e-3, metadata=_help("largest |ORT - torch| allowed on fp32 first-step logits"))
    verify_images: tuple[str, ...] = field(
        default=(), metadata=_help("images to verify on (default: built-in RGB, RGBA, "
                                   "grayscale and non-square samples)"))
    verify_dataset: str = field(
        default="", metadata=_help("dataset whose test split gives each variant's metric "
                                   "change (e.g. shapes; '' = skip)"))
    verify_samples: int = field(
        default=100, metadata=_help("test images every variant captions with --verify-dataset"))
    min_identical: float = field(
        default=0.9, metadata=_help("fail the export when a variant's greedy captions equal "
                                    "torch's on fewer than this share of the --verify-dataset "
                                    "images"))


@dataclass
class BackendConfig:
    """Which runtime `distilvit caption` uses."""

    backend: Literal["auto", "torch", "onnx"] = field(
        default="auto", metadata=_help("'auto': onnx for a folder written by `distilvit "
                                       "export`, torch otherwise"))
    onnx_variant: Literal["fp32", "int8", "q4", "fp16"] = field(
        default="fp32", metadata=_help("exported graphs the onnx backend runs"))


@dataclass
class PushConfig:
    """`distilvit push`: upload a trained or exported folder with a generated model card."""

    private: bool = field(default=False, metadata=_help("create the repository as private"))
    dry_run: bool = field(
        default=False, metadata=_help("list what would be uploaded; upload nothing"))
    training_data: str = field(
        default="", metadata=_help("one line on the training data, for the model card"))
    license: str = field(default="apache-2.0", metadata=_help("license in the model card"))
