import json
import math
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from distilvit.cli import main
from distilvit.config import CaptionerConfig, OptimConfig, TrainConfig
from distilvit.data.features import DataSpec, load_split
from distilvit.eval.metrics import one_meteor
from distilvit.model import Captioner
from distilvit.model.lora import causal_lm
from distilvit.train.loop import Trainer, prepare_for_training, total_steps
from distilvit.train.optim import parameter_groups, warmup_cosine
from distilvit.train.run import prepare


def _train_config(tmp_path, **overrides) -> TrainConfig:
    base = dict(dataset=("shapes",), sample=48, batch_size=8, max_steps=6,
                checkpoint_every=3, eval_samples=16, output_dir=str(tmp_path / "run"),
                cache_dir=str(tmp_path / "cache"), precision="fp32", log_every=1)
    return TrainConfig.flat(**{**base, **overrides})


def _fit(config: CaptionerConfig, cfg: TrainConfig) -> Captioner:
    torch.manual_seed(cfg.data.seed)
    model = Captioner.build(config)
    precision = cfg.runtime.precision
    train, val = prepare(model, cfg.data, cfg.runtime, precision, cfg.checkpointing.eval_samples)
    # as train/run.py does: the speed settings are an explicit step before the Trainer
    compiler = prepare_for_training(model, precision, cfg.runtime.compile,
                                    total_steps(len(train), cfg.optim))
    Trainer(model, train, val, cfg, precision, compiler=compiler).fit()
    return model


def test_cli_trains_saves_and_scores(tmp_path, vision_dir, lm_dirs, capsys):
    """Train (final eval on) then `eval`; both score in one METEOR JVM, started once (the
    same scores as a JVM each: tests/test_metrics.py)."""
    with one_meteor():
        _train_then_eval(tmp_path, vision_dir, lm_dirs, capsys)


def _train_then_eval(tmp_path, vision_dir, lm_dirs, capsys) -> None:
    out = tmp_path / "cli-run"
    code = main(["train", "--encoder-model", str(vision_dir), "--decoder-model",
                 str(lm_dirs["llama"]), "--dataset", "shapes", "--sample", "40",
                 "--batch-size", "8", "--num-train-epochs", "2", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--precision", "fp32",
                 "--lora-r", "2", "--projection-type", "linear"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "trained 10 steps" in printed and "attribute_accuracy" in printed
    saved = json.loads((out / "config.json").read_text())["captioner"]
    assert saved["lora"]["r"] == 2 and saved["projector"]["type"] == "linear"
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in rows) and any("samples_per_s" in r for r in rows)
    assert main(["eval", str(out), "--sample", "8", "--json", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    for key in ("bleu1", "bleu4", "meteor", "rougeL", "cider", "mean_length",
                "gendered_rate", "attribute_accuracy", "n_images"):
        assert key in metrics
    assert metrics["n_images"] == 8


def test_resume_after_a_kill_matches_an_uninterrupted_run(tmp_path, make_config,
                                                          monkeypatch):
    config = make_config("llama")
    straight = _fit(config, _train_config(tmp_path / "a"))
    cfg = _train_config(tmp_path / "b")
    original = Trainer._optimizer_step

    def killed_after_step_4(self, losses, n):
        if self.progress.step == 4:
            raise KeyboardInterrupt
        return original(self, losses, n)

    monkeypatch.setattr(Trainer, "_optimizer_step", killed_after_step_4)
    with pytest.raises(KeyboardInterrupt):
        _fit(config, cfg)
    monkeypatch.setattr(Trainer, "_optimizer_step", original)
    resumed = _fit(config, replace(cfg, checkpointing=replace(cfg.checkpointing, resume=True)))
    for name, param in straight.trainable_parameters().items():
        assert torch.equal(param, resumed.trainable_parameters()[name]), name


def test_feature_cache_is_reused_without_running_the_encoder(tmp_path, make_config,
                                                             monkeypatch):
    model = Captioner.build(make_config("llama"))
    spec = DataSpec(datasets=("shapes",), split="validation", sample=10)
    first = load_split(model, spec, tmp_path)
    assert first.features.dtype.name == "float16" and len(first) == 10

    def fail(*args, **kwargs):
        raise AssertionError("encoder ran on a cache hit")

    monkeypatch.setattr(model.encoder, "forward", fail)
    again = load_split(model, spec, tmp_path)
    assert (again.features == first.features).all() and again.captions == first.captions


def test_unfrozen_tower_trains_from_images(tmp_path, make_config):
    config = make_config("llama")
    config.encoder.unfreeze_last_n_layers = 1
    cfg = _train_config(tmp_path, max_steps=2, checkpoint_every=0)
    model = _fit(config, cfg)
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert any(k.startswith("encoder.") for k in weights)
    assert model.encoder.trainable_modules()
    assert not any((tmp_path / "cache").glob("*")), "no feature cache for a trainable tower"


def test_each_part_has_its_learning_rate(make_config):
    config = make_config("llama")
    config.encoder.unfreeze_last_n_layers = 1
    model = Captioner.build(config)
    cfg = OptimConfig(projection_lr=1e-3, lora_lr=2e-4, vision_lr=1e-5)
    rates = {g["name"]: g["lr"] for g in parameter_groups(model, cfg)}
    assert rates == {"projector": 1e-3, "lora": 2e-4, "vision": 1e-5}


def test_early_stopping_keeps_the_best_model(tmp_path, make_config, monkeypatch):
    losses = iter([1.0, 0.5, 0.7, 0.9, 0.4])
    saved_at = []
    monkeypatch.setattr("distilvit.train.loop.validation_loss", lambda *a: next(losses))
    monkeypatch.setattr(Captioner, "save_pretrained",
                        lambda self, out: saved_at.append(len(saved_at)))
    cfg = _train_config(tmp_path, max_steps=0, num_train_epochs=10, eval_every=1,
                        early_stopping_patience=2, checkpoint_every=0)
    _fit(make_config("llama"), cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text()
            .splitlines()]
    evals = [r["val_loss"] for r in rows if "val_loss" in r]
    assert evals == [1.0, 0.5, 0.7, 0.9]  # two validations without improvement: stop
    assert len(saved_at) == 2  # saved after 1.0 and after 0.5 only


def test_two_processes_train_with_ddp(tmp_path, vision_dir, lm_dirs):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a free loopback port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "distilvit", "train", "--encoder-model", str(vision_dir),
           "--decoder-model", str(lm_dirs["llama"]), "--sample", "32", "--batch-size", "4",
           "--num-train-epochs", "1", "--output-dir", str(out), "--cache-dir",
           str(tmp_path / "cache"), "--precision", "fp32", "--log-every", "1",
           "--no-final-eval"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "caption_loss" in r]
    assert steps == sorted(set(steps)), "more than one process wrote the log"
    assert max(steps) == 4  # 32 images / (4 per process x 2 processes)
    assert (out / "model.safetensors").is_file()
    assert done.stdout.count("trained 4 steps") == 1


def _old_warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The hand-written schedule transformers' replaced (kept here as the reference)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _lrs(total: int, ratio: float) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = warmup_cosine(optimizer, total, ratio)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_schedule_keeps_the_warmup_and_the_cosine():
    total, warmup = 200, 10
    rates = _lrs(total, 0.05)
    for k in range(warmup):  # the warm-up is the old one, step for step
        assert rates[k] == pytest.approx(_old_warmup_cosine(k, total, warmup))
    assert rates[warmup - 1] == pytest.approx(1.0)
    for k in (warmup, 50, 100, 150, total - 1):  # the decay at most one step ahead of it
        assert (_old_warmup_cosine(k + 1, total, warmup) - 1e-12 <= rates[k]
                <= _old_warmup_cosine(k, total, warmup) + 1e-12)
    decay = rates[warmup:]
    assert rates[-1] > 0 and all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert _lrs(1, 0.05) == [1.0]  # a one-step run still learns


def test_trainer_leaves_the_model_as_given(tmp_path, make_config):
    model = Captioner.build(make_config("llama"))
    cfg = _train_config(tmp_path, sample=8, eval_samples=8, compile="on", precision="bf16")

    def state():
        lm = causal_lm(model.lm)
        return ({n: p.dtype for n, p in model.named_parameters()},
                lm.config._attn_implementation,
                [m for m in model.modules() if "forward" in vars(m)])

    before = state()
    train, val = prepare(model, cfg.data, cfg.runtime, "bf16", cfg.checkpointing.eval_samples)
    Trainer(model, train, val, cfg, "bf16")
    assert state() == before
    prepare_for_training(model, "bf16", "off", 1)  # the explicit step does change it
    assert state() != before
