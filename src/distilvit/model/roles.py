"""What each captioner parameter is for, named once: the checkpoint, the optimizer's groups
(one learning rate per role) and `merge` all ask here.

    projector.*          PROJECTOR  always trained and saved
    lm.*lora_*           LORA       the language model's adapters
    encoder.*            VISION     the vision tower (trained only when unfrozen)
    anything else        OTHER      frozen base weights (the language model)
"""

from __future__ import annotations

PROJECTOR, LORA, VISION, OTHER = "projector", "lora", "vision", "other"
ROLES = (PROJECTOR, LORA, VISION, OTHER)


def parameter_role(name: str) -> str:
    """The role of a `Captioner` parameter or buffer, from its qualified name."""
    if name.startswith("projector."):
        return PROJECTOR
    if name.startswith("lm.") and "lora_" in name:
        return LORA
    if name.startswith("encoder."):
        return VISION
    return OTHER
