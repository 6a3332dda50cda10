"""The one sequence format, shared by training, generation and export.

    [image prefix (N embeddings)] [separator] [caption tokens] [EOS]

The separator is the tokenizer's BOS token (or EOS when it has none, or a configured token).
Labels are stored already shifted: `labels[t]` is the token that position `t` must predict,
so the separator predicts the first caption token and the last caption token predicts EOS.
The final EOS is never fed as an input (nothing follows it), and padding is found from the
lengths, not from token values, so EOS is learned even when the pad token equals EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distilvit.errors import ConfigError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TextBatch:
    input_ids: torch.Tensor  # [B, T]: separator + caption (no final EOS), right-padded
    attention_mask: torch.Tensor  # [B, T]
    labels: torch.Tensor  # [B, T]: next token at each position, IGNORE_INDEX on padding


@dataclass(frozen=True)
class SequenceFormat:
    separator_id: int
    eos_id: int
    pad_id: int
    max_length: int  # caption tokens kept, EOS included

    @classmethod
    def from_tokenizer(cls, tokenizer, max_length: int, separator_token: str = "") -> SequenceFormat:
        if max_length < 1:
            raise ConfigError(f"--max-length must be >= 1 (got {max_length}): room for EOS")
        return cls(separator_id=separator_id(tokenizer, separator_token),
                   eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
                   max_length=max_length)

    def caption_targets(self, caption_ids: list[int]) -> list[int]:
        """Truncate to max_length with EOS kept as the last token."""
        return list(caption_ids[: self.max_length - 1]) + [self.eos_id]

    def encode(self, tokenizer, captions: list[str]) -> TextBatch:
        token_ids = tokenizer(list(captions), add_special_tokens=False)["input_ids"]
        return self.encode_ids(token_ids)

    def encode_ids(self, caption_ids: list[list[int]]) -> TextBatch:
        targets = [self.caption_targets(ids) for ids in caption_ids]
        width = max(len(t) for t in targets)
        input_ids = torch.full((len(targets), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(targets), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(targets), width), dtype=torch.long)
        for row, target in enumerate(targets):
            inputs = [self.separator_id] + target[:-1]
            input_ids[row, : len(inputs)] = torch.tensor(inputs)
            labels[row, : len(target)] = torch.tensor(target)
            attention_mask[row, : len(inputs)] = 1
        return TextBatch(input_ids, attention_mask, labels)

    def prompt_ids(self) -> list[int]:
        """What follows the image prefix before generation starts."""
        return [self.separator_id]


def separator_id(tokenizer, token: str = "") -> int:
    if token:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ConfigError(f"--separator-token {token!r} is not in the tokenizer's vocabulary; "
                              "pass one of its tokens, or '' for its BOS/EOS")
        return token_id
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token_id
    return tokenizer.eos_token_id
