"""`distilvit caption`'s batch settings: inputs, output, resume, decode pool, engine, Ray.

The flags of `distilvit caption` are generated from these fields (`cli_args.add_config_args`),
so this dataclass is the one source of their defaults and help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from distilvit.errors import UsageError
from distilvit.options import check_fields
from distilvit.options import option as _help

FORMATS = ("jsonl", "parquet", "imagefolder")


@dataclass
class BatchConfig:
    output: str = field(
        default="",
        metadata=_help("write records here instead of the terminal: FILE.jsonl, a Parquet folder "
                       "(NAME.parquet or any folder), or the image folder for imagefolder; "
                       "rerunning the same command resumes"))
    output_format: Literal["auto", "jsonl", "parquet", "imagefolder"] = field(
        default="auto",
        metadata=_help("'auto': jsonl for *.jsonl, parquet otherwise; 'imagefolder' writes "
                       "the folder's metadata.jsonl (file_name, caption) read by the folder "
                       "dataset source and `distilvit quality`"))
    part_rows: int = field(
        default=50_000, metadata=_help("Parquet output: records per part file", at_least=1))
    manifest: str = field(
        default="",
        metadata=_help("a list of images: .txt (one path a line), .csv, .jsonl or .parquet "
                       "with a path column; relative paths are relative to the manifest"))
    path_column: str = field(
        default="", metadata=_help("manifest column holding the path (''= path, image, "
                                   "file_name or filepath, the first present)"))
    id_column: str = field(
        default="", metadata=_help("manifest column kept as each record's id (''= the path)"))
    dataset: str = field(
        default="", metadata=_help("caption a registry dataset instead of files (e.g. coco, "
                                   "folder, shapes); each row keeps its id"))
    split: str = field(default="test", metadata=_help("the --dataset split"))
    dataset_path: str = field(
        default="", metadata=_help("local copy of --dataset (a folder for 'folder')"))
    sample: int = field(
        default=0, metadata=_help("caption at most N rows of --dataset (0 = all)", at_least=0))
    workers: int = field(
        default=2, metadata=_help("threads decoding and resizing images while the model runs",
                                  at_least=1))
    draft: bool = field(
        default=True,
        metadata=_help("decode JPEGs at a reduced scale (DCT scaling) when the model input is "
                       "far smaller: several times faster on photos; pixels differ slightly "
                       "from a full decode"))
    engine: Literal["local", "ray"] = field(
        default="local",
        metadata=_help("'ray': Ray Data actors (a local Ray, or RAY_ADDRESS's cluster); needs "
                       "the [scale] extra and --output to a Parquet folder"))
    ray_concurrency: int = field(
        default=2, metadata=_help("Ray: model actors (each opens the model once)", at_least=1))
    ray_batch_size: int = field(
        default=0, metadata=_help("Ray: images per actor call (0 = --batch-size)", at_least=0))
    ray_num_cpus: float = field(
        default=1.0, metadata=_help("Ray: CPUs reserved per actor (its compute threads, rounded up)",
                                    at_least=0))
    ray_num_gpus: float = field(
        default=0.0, metadata=_help("Ray: GPUs per actor (1 = one actor per GPU)", at_least=0))
    ray_chunk: int = field(
        default=100_000,
        metadata=_help("Ray: inputs handed to Ray per Dataset (bounds the driver's memory)",
                       at_least=1))

    def __post_init__(self) -> None:
        check_fields(self)  # the declared ranges, named by flag
        if self.dataset and self.manifest:
            raise UsageError("give --dataset or --manifest, not both")
        if self.dataset_path and not self.dataset:
            raise UsageError("--dataset-path needs --dataset (the source that reads it)")
        if self.output_format != "auto" and not self.output:
            raise UsageError("--output-format needs --output")
        if self.engine == "ray" and self.resolved_format() != "parquet":
            raise UsageError("--engine ray writes Parquet: give --output FOLDER (not .jsonl, "
                             "not imagefolder)")

    def resolved_format(self) -> str:
        """jsonl, parquet or imagefolder ('' when records go to the terminal)."""
        if not self.output:
            return ""
        if self.output_format != "auto":
            return self.output_format
        return "jsonl" if Path(self.output).suffix.lower() == ".jsonl" else "parquet"
