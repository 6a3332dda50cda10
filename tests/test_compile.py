import pytest
import torch
from PIL import Image

from distilvit.model import Captioner
from distilvit.train import compile as compile_module
from distilvit.train.compile import LayerCompiler, should_compile
from test_train import _fit, _train_config

needs_compiler = pytest.mark.skipif(not compile_module.has_cxx_compiler(),
                                     reason="Inductor needs a C++ compiler on the CPU")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_compiles_only_long_cpu_runs_with_a_compiler(monkeypatch):
    monkeypatch.setattr(compile_module.shutil, "which", lambda name: "/usr/bin/" + name)
    long_run = compile_module.AUTO_MIN_STEPS
    assert should_compile("auto", CPU, long_run)
    assert not should_compile("auto", CPU, long_run - 1)
    assert not should_compile("auto", CUDA, long_run)
    assert should_compile("on", CUDA, 1) and not should_compile("off", CPU, long_run)
    monkeypatch.setattr(compile_module.shutil, "which", lambda name: None)
    assert not should_compile("auto", CPU, long_run)
    with pytest.raises(ValueError, match="'auto', 'on' or 'off'"):
        should_compile("yes", CPU, 1)


def _loss_and_grads(model, batch) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                         if p.grad is not None}


@needs_compiler
def test_compiled_layers_match_eager_and_switch_back(make_config):
    torch.manual_seed(0)
    model = Captioner.build(make_config("llama")).train()
    text = model.format.encode(model.tokenizer, ["a red circle", "two blue squares here"])
    batch = dict(input_ids=text.input_ids, attention_mask=text.attention_mask,
                 labels=text.labels, pixel_values=torch.randn(2, 3, 32, 32))
    eager_loss, eager_grads = _loss_and_grads(model, batch)
    compiler = LayerCompiler(model)

    def compiled_step():
        assert all("forward" in vars(layer) for layer in compiler.layers)
        return _loss_and_grads(model, batch)

    loss, grads = compiler.run(compiled_step)
    assert compiler.proven and compiler.enabled
    assert not any("forward" in vars(layer) for layer in compiler.layers)
    assert loss == pytest.approx(eager_loss, rel=1e-5)
    assert grads.keys() == eager_grads.keys() and any("lora" in n for n in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, eager_grads[name], rtol=1e-4, atol=1e-6)


@needs_compiler
def test_trainer_with_compile_on_trains_and_saves_an_eager_model(make_config, tmp_path):
    model = _fit(make_config("llama"), _train_config(tmp_path, compile="on"))
    rows = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"loss"' in r]) == 6  # log_every=1, max_steps=6
    reloaded = Captioner.from_pretrained(tmp_path / "run")
    assert not any("forward" in vars(m) for m in model.modules())
    image = Image.new("RGB", (32, 32), "red")
    assert model.caption(image) == reloaded.caption(image)


def _failing_compile(forward):
    def compiled(*args, **kwargs):
        raise RuntimeError("C++ compile failed: Python.h: No such file or directory")
    return compiled


def test_a_broken_toolchain_falls_back_to_eager_training(make_config, tmp_path, monkeypatch,
                                                         caplog):
    monkeypatch.setattr(compile_module.torch, "compile", _failing_compile)
    with caplog.at_level("WARNING", logger="distilvit.train.compile"):
        _fit(make_config("llama"), _train_config(tmp_path, compile="on"))
    assert "torch.compile failed (C++ compile failed: Python.h" in caplog.text
    rows = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    assert len([r for r in rows if '"loss"' in r]) == 6


def test_an_error_of_the_step_itself_still_surfaces(make_config, monkeypatch):
    monkeypatch.setattr(compile_module.torch, "compile", _failing_compile)
    compiler = LayerCompiler(Captioner.build(make_config("llama")))

    def broken_step():
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        compiler.run(broken_step)
