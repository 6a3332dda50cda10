import torch

from distilvit.model import Captioner
from distilvit.sequence import IGNORE_INDEX


def _batch(model, n=2):
    text = model.format.encode(model.tokenizer, ["a red circle", "two objects"][:n])
    return text, torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_trainable_parameter_count_is_exact(make_config):
    model = Captioner.build(make_config("llama"))
    vision, lm, r, k = 32, 48, 4, 2
    projector = (vision * k * k * lm + lm) + (lm * lm + lm)
    kv = 48 // 4 * 2  # 2 kv heads of width 12
    per_layer = r * (lm + lm) * 2 + r * (lm + kv) * 2  # q, o: 48->48; k, v: 48->24
    trainable, total = model.num_parameters()
    assert trainable == projector + 2 * per_layer
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trainable
    assert total > 5 * trainable


def test_one_step_updates_projector_and_lora_only(make_config):
    model = Captioner.build(make_config("llama")).train()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters()
                     if not p.requires_grad}
    trainable = model.trainable_parameters()
    text, pixels = _batch(model)
    loss = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels).loss
    loss.backward()
    for name, param in model.named_parameters():
        if name in trainable:
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    before = {n: p.detach().clone() for n, p in trainable.items()}
    torch.optim.AdamW(trainable.values(), lr=1e-2).step()
    for name, param in model.named_parameters():
        if name in frozen_before:
            assert torch.equal(param, frozen_before[name]), name
    assert all(not torch.equal(before[n], p) for n, p in trainable.items() if "lora_A" not in n)


def test_frozen_tower_stays_in_eval_mode(make_config):
    model = Captioner.build(make_config("llama")).train()
    assert not model.encoder.tower.training
    assert model.projector.training


def test_unfreeze_last_layers(make_config):
    config = make_config("llama")
    config.encoder.unfreeze_last_n_layers = 1
    model = Captioner.build(config)
    names = [n for n in model.trainable_parameters() if n.startswith("encoder.")]
    assert names and all("layers.1." in n or "post_layernorm" in n for n in names)
    assert model.encoder.train().training


def test_logits_only_at_labelled_positions(make_config):
    model = Captioner.build(make_config("llama")).eval()
    text, pixels = _batch(model)
    out = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels)
    n_labels = int((text.labels != IGNORE_INDEX).sum())
    assert out.logits.shape == (n_labels, len(model.tokenizer))
    full = model(text.input_ids, text.attention_mask, pixel_values=pixels).logits
    selected = full[text.labels != IGNORE_INDEX]
    torch.testing.assert_close(out.logits, selected)
    expected = torch.nn.functional.cross_entropy(selected, text.labels[text.labels != -100])
    torch.testing.assert_close(out.loss, expected)


def test_cached_features_give_the_same_loss(make_config):
    model = Captioner.build(make_config("llama")).eval()
    text, pixels = _batch(model)
    features = model.encoder(pixels)
    a = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels).loss
    b = model(text.input_ids, text.attention_mask, text.labels, image_features=features).loss
    torch.testing.assert_close(a, b)


def test_right_padding_needs_no_attention_mask(make_config, monkeypatch):
    import distilvit.model.captioner as captioner

    model = Captioner.build(make_config("llama")).eval()
    text, pixels = _batch(model)
    assert (text.attention_mask == 0).any(), "the batch must hold padding"
    fast = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels)
    monkeypatch.setattr(captioner, "_right_padded", lambda mask: False)
    masked = model(text.input_ids, text.attention_mask, text.labels, pixel_values=pixels)
    torch.testing.assert_close(fast.logits, masked.logits, rtol=1e-5, atol=1e-5)
