"""`distilvit data debias`: rewrite a dataset's captions by the guidelines, keep the originals,
and measure the result (bias rates before/after, fidelity of each rewrite to its original).

Input: a saved dataset (`save_to_disk`, e.g. from `distilvit data merge`) or a .jsonl/.csv file
with an `alt_text` (or `caption`/`captions`) column. Output: the same rows with `alt_text`
rewritten (a string stays a string, a list a list) and the captions it had in
`original_alt_text`; a column that already held originals is kept as
`source_original_alt_text`. A saved dataset is written with `save_to_disk`, a file as JSONL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from distilvit.errors import UsageError
from distilvit.quality.bias import BiasTally
from distilvit.quality.config import DebiasConfig, LLMConfig
from distilvit.quality.fidelity import Fidelity, build_fidelity
from distilvit.quality.records import CAPTION_COLUMNS, read_rows

logger = logging.getLogger(__name__)

CHUNK = 256  # rows rewritten together (LLM batches span rows)
Backend = Callable[[list[str]], list[str | None]]


@dataclass
class DebiasReport:
    rows: int = 0
    captions: int = 0
    changed: int = 0
    failed: int = 0
    before: BiasTally = field(default_factory=BiasTally)
    after: BiasTally = field(default_factory=BiasTally)
    fidelity: list[float] = field(default_factory=list)
    fidelity_method: str = ""
    backend: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        before, after = self.before.summary(), self.after.summary()
        mean = sum(self.fidelity) / len(self.fidelity) if self.fidelity else None
        return {
            "rows": self.rows, "captions": self.captions, "changed": self.changed,
            "failed_kept_original": self.failed,
            "bias_rates": {c: {"before": before["categories"][c]["rate"],
                               "after": after["categories"][c]["rate"]}
                           for c in before["categories"]},
            "any_category": {"before": before["any_category_rate"],
                             "after": after["any_category_rate"]},
            "fidelity": {"method": self.fidelity_method, "changed_captions": len(self.fidelity),
                         "mean": mean, "min": min(self.fidelity, default=None)},
            "backend": self.backend,
        }


def make_backend(cfg: DebiasConfig, llm: LLMConfig) -> tuple[Backend, Callable[[], dict]]:
    """(rewrite function, a function describing what it did)."""
    if cfg.backend == "rules":
        from distilvit.quality.debias_rules import rewrite

        def rules(captions: list[str]) -> list[str | None]:
            return [rewrite(c, cfg.single_sentence) for c in captions]
        return rules, lambda: {"backend": "rules"}
    from distilvit.quality.llm import LLMRewriter

    rewriter = LLMRewriter(llm)
    return rewriter.rewrite, lambda: {"backend": "llm", "url": llm.llm_url,
                                      "model": llm.llm_model, **vars(rewriter.stats)}


class Debiaser:
    """Rewrites chunks of rows and keeps the before/after tallies."""

    def __init__(self, backend: Backend, fidelity: Fidelity):
        self.backend, self.fidelity = backend, fidelity
        self.report = DebiasReport(fidelity_method=fidelity.description)

    def rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        column = [caption_column(row) for row in rows]
        lists = [_as_list(row.get(col)) for row, col in zip(rows, column, strict=True)]
        flat = [c for captions in lists for c in captions]
        answers = iter(self._rewrite(flat))
        out = []
        for row, col, captions in zip(rows, column, lists, strict=True):
            new = [next(answers) for _ in captions]
            out.append(_rewritten_row(row, col, captions, new))
        self.report.rows += len(rows)
        return out

    def _rewrite(self, captions: list[str]) -> list[str]:
        answers = self.backend(captions) if captions else []
        final, changed = [], []
        for original, answer in zip(captions, answers, strict=True):
            self.report.failed += answer is None
            text = original if answer is None else answer
            final.append(text)
            if text != original:
                changed.append((original, text))
        self.report.captions += len(captions)
        self.report.changed += len(changed)
        self.report.before.add_all(captions)
        self.report.after.add_all(final)
        if changed:
            self.report.fidelity.extend(self.fidelity.score([t for _, t in changed],
                                                            [[o] for o, _ in changed]))
        return final


def caption_column(row: dict[str, Any]) -> str:
    for name in CAPTION_COLUMNS:
        if row.get(name):
            return name
    raise UsageError(f"a row has none of the caption columns {', '.join(CAPTION_COLUMNS)}: "
                     f"{sorted(row)}")


def _as_list(value: Any) -> list[str]:
    from distilvit.data.sources.common import captions_from

    return captions_from(value)


def _rewritten_row(row: dict[str, Any], column: str, old: list[str],
                   new: list[str]) -> dict[str, Any]:
    out = dict(row)
    if "original_alt_text" in out:
        out["source_original_alt_text"] = out.pop("original_alt_text")
    out[column] = new[0] if isinstance(row.get(column), str) and len(new) == 1 else new
    out["original_alt_text"] = old
    return out


# ----- inputs and outputs ---------------------------------------------------------------------
def run_debias(input_path: str, cfg: DebiasConfig, llm: LLMConfig) -> dict[str, Any]:
    from distilvit.data.sources.hub import is_saved_dataset

    if not cfg.output:
        raise UsageError("--output: say where the rewritten dataset goes")
    source = Path(input_path)
    if not source.exists():
        raise UsageError(f"{input_path}: no such file or folder")
    backend, describe = make_backend(cfg, llm)
    debiaser = Debiaser(backend, build_fidelity(cfg))
    if is_saved_dataset(input_path):
        _debias_saved(source, Path(cfg.output), debiaser, cfg.max_samples)
    else:
        _debias_file(source, Path(cfg.output), debiaser, cfg.max_samples)
    debiaser.report.backend = describe()
    summary = debiaser.report.summary()
    summary_path = (Path(cfg.output) / "debias_summary.json" if Path(cfg.output).is_dir()
                    else Path(cfg.output).with_suffix(".summary.json"))
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _debias_file(source: Path, out: Path, debiaser: Debiaser, limit: int) -> None:
    if out.suffix.lower() != ".jsonl":
        raise UsageError(f"--output {out}: a caption file is rewritten into a .jsonl file")
    rows = islice(read_rows(source), limit or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle, tqdm(desc="debias", unit="row") as bar:
        for chunk in _chunks(rows, CHUNK):
            for row in debiaser.rows(chunk):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            bar.update(len(chunk))


def _debias_saved(source: Path, out: Path, debiaser: Debiaser, limit: int) -> None:
    import tempfile

    import datasets

    if out.resolve() == source.resolve():
        raise UsageError(f"--output {out}: write to a new folder, not over the input")
    data = datasets.load_from_disk(str(source))
    splits = data if isinstance(data, datasets.DatasetDict) else {"": data}
    # map's cache files live here until save_to_disk has copied them: the input folder is
    # never written to, and no split is held in memory.
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        done = {}
        for name, split in splits.items():
            if limit:
                split = split.select(range(min(limit, len(split))))
            done[name] = _map_split(split, debiaser, Path(tmp) / f"{name or 'data'}.arrow")
        result = (datasets.DatasetDict(done) if isinstance(data, datasets.DatasetDict)
                  else done[""])
        result.save_to_disk(str(out))


def _map_split(split: Any, debiaser: Debiaser, cache_file: Path) -> Any:
    from distilvit.data.sources.hub import undecoded

    image_feature = split.features.get("image")
    raw = undecoded(split)  # images pass through as bytes, never decoded

    def rewrite(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values, strict=True))
                for values in zip(*batch.values(), strict=True)]
        new = debiaser.rows(rows)
        return {key: [row[key] for row in new] for key in new[0]}

    remove = ["original_alt_text"] if "original_alt_text" in raw.column_names else []
    mapped = raw.map(rewrite, batched=True, batch_size=CHUNK, remove_columns=remove,
                     cache_file_name=str(cache_file), desc="debias",
                     load_from_cache_file=False)
    if image_feature is not None:
        mapped = mapped.cast_column("image", image_feature)
    return mapped
