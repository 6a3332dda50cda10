"""Token-id rules every runtime shares: where a caption ends, which ids a bad word bans.

torch (`distilvit.generate`), ONNX Runtime (`distilvit.ort`), the export's
`generation_config.json` and the parity check all use these, so the two runtimes cannot drift.
No torch or transformers here: the ONNX path imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def until_eos(row: Sequence[int], eos_id: int) -> list[int]:
    """Token ids up to (not including) the first EOS."""
    row = list(row)
    return row[: row.index(eos_id)] if eos_id in row else row


def bad_words_ids(encode: Callable[[str], Sequence[int]],
                  words: Iterable[str]) -> tuple[tuple[int, ...], ...]:
    """Each word's ids as it tokenizes at a sentence start and after a space, sorted.

    A word is banned in both forms because BPE tokenizers give "dog" and " dog" different
    ids; `encode` adds no special tokens.
    """
    variants = {tuple(encode(form)) for word in words for form in (word, " " + word)
                if word.strip()}
    return tuple(v for v in sorted(variants) if v)
