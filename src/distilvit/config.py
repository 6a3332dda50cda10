"""Dataclass configs: the one source of defaults for the model, generation, training and CLI.

Every CLI flag and its help text is derived from these fields (see `distilvit.cli_args`).
Field metadata comes from `distilvit.options.option`: help text, a flag name where the seed's
CLI used a different one (e.g. `--encoder-model`), and the allowed range, which each config
checks in `__post_init__` (one-line `UsageError`s naming the flag) and argparse checks while
parsing. The dataset tools' configs live in `distilvit.quality.config`, the server's in
`distilvit.serve.config`; all three modules share `option`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from distilvit.options import check_device, check_fields, require
from distilvit.options import option as _help

# Built-in tiny bases shipped as package data (built by `make tiny-bases`).
BUILTIN_PREFIX = "builtin:"


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
                       flag="--unfreeze-vision-layers", at_least=0),
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class ProjectorConfig:
    type: Literal["linear", "mlp"] = field(
        default="mlp", metadata=_help("projector kind", flag="--projection-type"))
    pixel_shuffle_factor: int = field(
        default=2,
        metadata=_help("merge k*k neighbouring patches into one prefix token (1 = off)",
                       at_least=1),
    )
    hidden_size: int = field(
        default=0, metadata=_help("MLP hidden width (0 = the language model's hidden size)",
                                  at_least=0))
    standardize: bool = field(
        default=False,
        metadata=_help("standardise each patch feature with training-set statistics first"))
    position_embedding: bool = field(
        default=False,
        metadata=_help("add a learned embedding per prefix token, so the LM knows where each "
                       "token sits in the image"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class DecoderConfig:
    name_or_path: str = field(
        default="HuggingFaceTB/SmolLM-135M",
        metadata=_help("causal language model: Hub id or local path", flag="--decoder-model"),
    )


@dataclass
class LoraConfig:
    r: int = field(default=16, metadata=_help("LoRA rank (0 = no LoRA, LM frozen)",
                                              flag="--lora-r", at_least=0))
    alpha: int = field(default=32, metadata=_help("LoRA alpha", flag="--lora-alpha", above=0))
    # 0, PEFT's own default: at 0.05 the dropout masks took ~20% of a base-architecture
    # training step on the CPU (bench/train_throughput.py).
    dropout: float = field(default=0.0, metadata=_help("LoRA dropout", flag="--lora-dropout",
                                                       at_least=0, below=1))
    target_modules: str = field(
        default="auto",
        metadata=_help("'auto' (attention projections of the architecture), 'all-linear', "
                       "or comma-separated module names", flag="--lora-targets"),
    )

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class GenerationConfig:
    max_new_tokens: int = field(default=30, metadata=_help("longest caption, in tokens",
                                                           at_least=1))
    min_new_tokens: int = field(default=0, metadata=_help("shortest caption, in tokens",
                                                          at_least=0))
    num_beams: int = field(default=1, metadata=_help("beam width (1 = greedy)", at_least=1))
    do_sample: bool = field(default=False, metadata=_help("sample instead of greedy/beam"))
    temperature: float = field(default=1.0, metadata=_help("sampling temperature", above=0))
    top_k: int = field(default=0, metadata=_help("sample among the k likeliest (0 = off)",
                                                 at_least=0))
    top_p: float = field(default=1.0, metadata=_help("nucleus sampling mass (1 = off)",
                                                     above=0, at_most=1))
    repetition_penalty: float = field(default=1.0, metadata=_help("1 = off", above=0))
    no_repeat_ngram_size: int = field(default=0, metadata=_help("forbid repeated n-grams",
                                                                at_least=0))
    bad_words: tuple[str, ...] = field(
        default=(), metadata=_help("words never to generate"))
    seed: int = field(default=0, metadata=_help("random seed for sampling", at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)
        require(self.min_new_tokens <= self.max_new_tokens,
                f"--min-new-tokens {self.min_new_tokens} is larger than --max-new-tokens "
                f"{self.max_new_tokens}; lower it or raise --max-new-tokens")


@dataclass
class CaptionerConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    max_length: int = field(
        default=32, metadata=_help("caption tokens kept in training, EOS included", at_least=2))
    separator_token: str = field(
        default="",
        metadata=_help("token between image prefix and caption ('' = the tokenizer's BOS, "
                       "else its EOS)"),
    )
    trust_remote_code: bool = field(
        default=False, metadata=_help("allow model code from the Hub (off: safer)"))

    def __post_init__(self) -> None:
        check_fields(self)

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


def _compact() -> CaptionerConfig:
    # DistilGPT-2 as a prefix LM (no cross-attention): 6 layers instead of SmolLM-135M's 30,
    # so the 50-position prompt step and each later token cost a fraction of `base`'s in the
    # browser (docs/architecture-comparison.md). LoRA on every Conv1D (c_attn, c_proj, c_fc):
    # with attention-only LoRA a small LM could not route the image into words (see _tiny).
    cfg = _preset("google/siglip-base-patch16-224", "distilbert/distilgpt2")
    cfg.lora = LoraConfig(target_modules="all-linear")
    return cfg


# so400m/14 at 384 px has a 27x27 patch grid: k=3 gives 81 tokens (k=2 does not divide it).
PRESETS: dict[str, Any] = {
    "base": lambda: _preset("google/siglip-base-patch16-224", "HuggingFaceTB/SmolLM-135M"),
    "compact": _compact,
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


# One default for every captioning batch (`caption`, `eval`, the final evaluation of `train`).
CAPTION_BATCH_SIZE = 32


@dataclass
class InferenceConfig:
    batch_size: int = field(default=CAPTION_BATCH_SIZE,
                            metadata=_help("images captioned together", at_least=1))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))

    def __post_init__(self) -> None:
        check_fields(self)
        check_device(self.device)


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
class DataConfig:
    """Which images and captions: shared by training and evaluation (`distilvit eval`)."""

    dataset: tuple[str, ...] = field(
        default=("shapes",), metadata=_help("dataset names (see docs/datasets.md)"))
    dataset_path: str = field(
        default="", metadata=_help("local copy of the (single) dataset instead of the Hub"))
    sample: int = field(default=0, metadata=_help("cap every source at N images (0 = all)",
                                                  at_least=0))
    seed: int = field(default=0, metadata=_help("seed of seeded splits; in training also of "
                                                "data order, init and sampling", at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)
        require(bool(self.dataset), "--dataset needs at least one name (see docs/datasets.md)")


@dataclass
class RuntimeConfig:
    """Where and how fast a training run computes; changes no result beyond rounding."""

    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))
    precision: Literal["auto", "bf16", "fp32"] = field(
        default="auto", metadata=_help("'auto' = bf16 autocast where the hardware has it"))
    compile: Literal["auto", "on", "off"] = field(
        default="auto", metadata=_help("torch.compile each LM decoder layer for the training "
                                       "steps; 'auto' = on for CPU runs of >= 1000 steps when "
                                       "a C++ compiler is found"))
    feature_cache: bool = field(
        default=True, metadata=_help("encode each image once when the tower is frozen"))
    cache_dir: str = field(default=".cache/distilvit", metadata=_help("feature cache folder"))

    def __post_init__(self) -> None:
        check_device(self.device)


@dataclass
class OptimConfig:
    """Steps, batches, learning rates and losses: what the optimizer and schedule read."""

    num_train_epochs: float = field(default=3.0, metadata=_help("passes over the training set",
                                                                above=0))
    max_steps: int = field(default=0, metadata=_help("stop after N optimizer steps (0 = off)",
                                                     at_least=0))
    max_minutes: float = field(
        default=0.0, metadata=_help("stop training after this wall time (0 = off)", at_least=0))
    batch_size: int = field(default=32, metadata=_help("images per micro-batch", at_least=1))
    gradient_accumulation_steps: int = field(
        default=1, metadata=_help("micro-batches per step", at_least=1))
    projection_lr: float = field(default=1e-3, metadata=_help("projector learning rate",
                                                              above=0))
    lora_lr: float = field(default=5e-4, metadata=_help("LoRA learning rate", above=0))
    vision_lr: float = field(default=2e-5, metadata=_help("unfrozen vision layers' rate",
                                                          above=0))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay", at_least=0))
    warmup_ratio: float = field(default=0.05, metadata=_help("share of steps warming up",
                                                             at_least=0, at_most=1))
    max_grad_norm: float = field(default=1.0, metadata=_help("gradient clipping (0 = off)",
                                                             at_least=0))
    clip_loss_weight: float = field(
        default=0.0, metadata=_help("weight of the CLIP alignment loss (0 = off, no model)",
                                    at_least=0))
    clip_model: str = field(
        default="openai/clip-vit-base-patch32",
        metadata=_help("CLIP/SigLIP model whose text tower the prefix is aligned to"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class CheckpointConfig:
    """Where the run writes, and how often it logs, validates and saves."""

    output_dir: str = field(default="runs/train", metadata=_help("where the model is saved"))
    resume: bool = field(default=False, metadata=_help("continue from output_dir/checkpoint"))
    checkpoint_every: int = field(
        default=200, metadata=_help("save a resumable checkpoint every N steps (0 = never)",
                                    at_least=0))
    log_every: int = field(default=20, metadata=_help("log metrics every N steps", at_least=1))
    eval_every: int = field(default=0, metadata=_help("validate every N steps (0 = per epoch)",
                                                      at_least=0))
    eval_samples: int = field(default=200, metadata=_help("validation images scored",
                                                          at_least=1))
    early_stopping_patience: int = field(
        default=0, metadata=_help("stop after N validations without improvement (0 = off)",
                                  at_least=0))
    report_to: tuple[str, ...] = field(
        default=(), metadata=_help("also send metrics to: tensorboard (OUTPUT_DIR/tensorboard), "
                                   "wandb (project from $WANDB_PROJECT, default distilvit)"))
    final_eval: bool = field(
        default=True, metadata=_help("score the saved model on the test split at the end"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class TrainConfig:
    """A training run: each component reads only its section (flag names keep the seed's:
    `--num-train-epochs`, `--projection-lr`, ...; nested sections add no prefix)."""

    preset: str = field(default="tiny", metadata=_help("model preset the flags below modify"))
    data: DataConfig = field(default_factory=DataConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    checkpointing: CheckpointConfig = field(default_factory=CheckpointConfig)

    def __post_init__(self) -> None:
        require(self.preset in PRESETS,
                f"--preset {self.preset!r} is unknown; choose from {', '.join(PRESETS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def flat(cls, **values: Any) -> TrainConfig:
        """Built from flag-style field names (`batch_size=8, output_dir=...`), each routed
        to the section that holds it, as the CLI does; unknown names are a TypeError."""
        kinds = {f.name: f.default_factory for f in dataclasses.fields(cls)
                 if dataclasses.is_dataclass(f.default_factory)}
        sections: dict[str, dict[str, Any]] = {name: {} for name in kinds}
        top: dict[str, Any] = {}
        for key, value in values.items():
            owner = next((name for name, kind in kinds.items()
                          if key in {g.name for g in dataclasses.fields(kind)}), None)
            (sections[owner] if owner else top)[key] = value
        return cls(**top, **{name: kinds[name](**kw) for name, kw in sections.items()})


@dataclass
class EvalConfig:
    """`distilvit eval`: the data section of training plus the split and how to caption."""

    data: DataConfig = field(default_factory=DataConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    split: Literal["train", "validation", "test"] = field(
        default="test", metadata=_help("split to score"))
    blind: bool = field(
        default=False, metadata=_help("zero the image prefix: the no-image baseline"))
    json: str = field(default="", metadata=_help("write the metrics to this JSON file"))

@dataclass
class ExportConfig:
    """`distilvit export`: ONNX graphs, their variants, and the parity check against torch."""

    def __post_init__(self) -> None:
        check_fields(self)

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
        default=1e-3, metadata=_help("largest |ORT - torch| allowed on fp32 first-step logits",
                                     above=0))
    verify_images: tuple[str, ...] = field(
        default=(), metadata=_help("images to verify on (default: built-in RGB, RGBA, "
                                   "grayscale and non-square samples)"))
    verify_dataset: str = field(
        default="", metadata=_help("dataset whose test split gives each variant's metric "
                                   "change (e.g. shapes; '' = skip)"))
    verify_samples: int = field(
        default=100, metadata=_help("test images every variant captions with --verify-dataset",
                                    at_least=1))
    min_identical: float = field(
        default=0.9, metadata=_help("fail the export when a variant's greedy captions equal "
                                    "torch's on fewer than this share of the --verify-dataset "
                                    "images", at_least=0, at_most=1))


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


@dataclass
class DemoConfig:
    """`distilvit demo`: the static server of the browser demo."""

    port: int = field(default=8000, metadata=_help("port to serve on (0 = any free port)",
                                                   at_least=0, at_most=65535))
    host: str = field(default="127.0.0.1", metadata=_help(
        "address to listen on; browsers give the Cache API and threads only to "
        "localhost/127.0.0.1 or HTTPS pages"))
    ort_dir: str = field(default="", metadata=_help(
        "onnxruntime-web's dist folder ('' = node_modules/onnxruntime-web/dist found "
        "from here or from the distilvit checkout, else redirect to the jsDelivr CDN)"))
    isolate: bool = field(default=True, metadata=_help(
        "send the COOP/COEP headers (cross-origin isolation: WASM threads)"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class MergeConfig:
    """`distilvit data merge` (see distilvit.data.merge)."""

    datasets: tuple[str, ...] = field(
        default=("coco", "flickr", "pexels", "docornot", "validation"),
        metadata=_help("sources to merge ('all' = every hub source)"))
    dataset_path: tuple[str, ...] = field(
        default=(), metadata=_help("NAME=PATH: read source NAME from a local copy (needed for "
                                   "'folder')"))
    sample: int = field(default=0, metadata=_help("at most N images per source, spread 90/5/5 "
                                                  "over its splits (0 = all)", at_least=0))
    save_path: str = field(default="runs/merged",
                           metadata=_help("folder written with save_to_disk"))
    push_to_hub: str = field(default="", metadata=_help("ORG/NAME: also push the dataset there"))
    private: bool = field(default=False, metadata=_help("create the Hub dataset as private"))
    dry_run: bool = field(default=False,
                          metadata=_help("save locally, print what would be pushed, push nothing"))
    split_by: Literal["content", "source"] = field(
        default="content", metadata=_help("'content': seeded split by image hash (leak-free "
                                          "by construction); 'source': each source's own split"))
    image_format: Literal["auto", "png", "jpeg"] = field(
        default="auto", metadata=_help("encoding of stored images ('auto': JPEG for images "
                                       "read from JPEG, else PNG)"))
    seed: int = field(default=0, metadata=_help("seed of the split assignment", at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)
        require(bool(self.datasets), "--datasets needs at least one source name")
