import pytest
import torch

from distilvit.bases import LM_FAMILIES
from distilvit.model import Captioner


@pytest.mark.parametrize("family", list(LM_FAMILIES))
def test_family_builds_trains_and_generates(make_config, family, images):
    model = Captioner.build(make_config(family)).train()
    trainable, _ = model.num_parameters()
    lora = [n for n in model.trainable_parameters() if "lora_" in n]
    assert lora, f"no LoRA adapters on {family}"
    text = model.format.encode(model.tokenizer, ["a red circle", "a blue star"])
    pixels = torch.randn(2, 3, 32, 32)
    optimizer = torch.optim.AdamW(model.trainable_parameters().values(), lr=1e-2)
    loss = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    captions = model.eval().caption(images, max_new_tokens=6)
    assert len(captions) == len(images) and all(isinstance(c, str) for c in captions)
