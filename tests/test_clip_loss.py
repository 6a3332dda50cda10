import pytest
import torch
import transformers

from distilvit.config import TrainConfig
from distilvit.model import Captioner
from distilvit.train import losses
from distilvit.train.loop import Trainer
from distilvit.train.run import prepare


@pytest.fixture(scope="module")
def clip_dir(tiny_dir, tokenizer):
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    text = transformers.CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32,
                                       intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=4, max_position_embeddings=64, **ids)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=1, num_attention_heads=4,
                                           image_size=32, patch_size=8)
    config = transformers.CLIPConfig(text_config=text.to_dict(),
                                     vision_config=vision.to_dict(), projection_dim=16)
    torch.manual_seed(0)
    out = tiny_dir / "clip"
    transformers.CLIPModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def test_gradient_reaches_the_projector(make_config, clip_dir):
    model = Captioner.build(make_config("llama")).train()
    loss_fn = losses.build_clip_loss(1.0, str(clip_dir), prefix_size=48)
    prefix = model.image_prefix(pixel_values=torch.randn(4, 3, 32, 32))
    loss = loss_fn(prefix, ["a red circle", "a blue star", "two green squares", "a dog"])
    loss.backward()
    grads = [p.grad for p in model.projector.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in loss_fn.clip.parameters())


def test_weight_zero_loads_nothing(monkeypatch):
    monkeypatch.setattr(losses.AutoModel, "from_pretrained",
                        lambda *a, **k: pytest.fail("loaded a CLIP model at weight 0"))
    assert losses.build_clip_loss(0.0, "openai/clip-vit-base-patch32", 48) is None


def test_training_with_clip_loss_logs_it(tmp_path, make_config, clip_dir):
    cfg = TrainConfig.flat(dataset=("shapes",), sample=16, batch_size=8, max_steps=2,
                      eval_samples=8, output_dir=str(tmp_path / "run"), cache_dir=str(tmp_path),
                      precision="fp32", clip_loss_weight=0.5, clip_model=str(clip_dir),
                      log_every=1, checkpoint_every=0)
    model = Captioner.build(make_config("llama"))
    train, val = prepare(model, cfg.data, cfg.runtime, "fp32", cfg.checkpointing.eval_samples)
    clip = losses.build_clip_loss(0.5, str(clip_dir), 48)
    head_before = clip.head.weight.detach().clone()
    Trainer(model, train, val, cfg, "fp32", clip).fit()
    assert not torch.equal(head_before, clip.head.weight)
    log = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"clip_loss"' in log
