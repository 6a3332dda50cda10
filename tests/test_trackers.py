import json
import sys
import types

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from distilvit.cli import main
from distilvit.config import TrainConfig
from distilvit.model import Captioner
from distilvit.train.loop import Trainer
from distilvit.train.run import prepare
from distilvit.train.trackers import MetricsLog


def _fit(tmp_path, make_config, **overrides):
    cfg = TrainConfig.flat(dataset=("shapes",), sample=24, batch_size=8, max_steps=4,
                      checkpoint_every=0, eval_samples=8, output_dir=str(tmp_path / "run"),
                      cache_dir=str(tmp_path / "cache"), precision="fp32", log_every=1,
                      **overrides)
    torch.manual_seed(0)
    model = Captioner.build(make_config("llama"))
    precision = cfg.runtime.precision
    train, val = prepare(model, cfg.data, cfg.runtime, precision, cfg.checkpointing.eval_samples)
    Trainer(model, train, val, cfg, precision).fit()
    return tmp_path / "run"


def test_tensorboard_gets_the_rows_log_jsonl_gets(tmp_path, make_config):
    out = _fit(tmp_path, make_config, report_to=("tensorboard",))
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    losses = {e.step: e.value for e in events.Scalars("loss")}
    assert losses == pytest.approx({r["step"]: r["loss"] for r in rows if "loss" in r})
    assert [e.value for e in events.Scalars("val_loss")] == pytest.approx(
        [r["val_loss"] for r in rows if "val_loss" in r])


def test_wandb_run_is_opened_fed_and_finished(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, values, step):
            calls.append(("log", step, values))

        def finish(self):
            calls.append(("finish",))

    fake = types.ModuleType("wandb")
    fake.init = lambda **kwargs: calls.append(("init", kwargs)) or Run()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setattr("distilvit.train.trackers._installed", lambda name: True)
    log = MetricsLog(tmp_path, ("wandb",), {"lora_lr": 0.003})
    log.write({"step": 3, "loss": 0.5, "best": True, "note": "text is not a scalar"})
    log.close()
    assert calls[0][0] == "init" and calls[0][1]["config"] == {"lora_lr": 0.003}
    assert calls[1] == ("log", 3, {"loss": 0.5, "best": 1.0})
    assert calls[2] == ("finish",)
    assert json.loads((tmp_path / "log.jsonl").read_text())["note"] == "text is not a scalar"


def test_missing_or_unknown_tracker_stops_before_loading_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("distilvit.train.trackers._installed", lambda name: False)
    for name, said in (("wandb", "pip install wandb"), ("mlflow", "unknown")):
        code = main(["train", "--report-to", name, "--output-dir", str(tmp_path)])
        assert code == 2
        assert said in capsys.readouterr().err
