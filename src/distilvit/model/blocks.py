"""The repeated transformer blocks of any Hugging Face model, found by shape, not by name.

Architectures name their block list differently (`layers`, `h`, `encoder.layers`); the one
ModuleList with `num_hidden_layers` entries is the same everywhere.
"""

from __future__ import annotations

from torch import nn


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    count = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"cannot find the {count} transformer layers of {type(model).__name__}")
