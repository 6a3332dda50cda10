"""Every error a user can cause is one line: exit 2, one `error:` line naming the flag or input,
no traceback, no Python object repr, and nothing loaded or written before the check.

The bad-value cases are generated from the parsers themselves: every numeric flag of every
subcommand gets values outside its declared range, a non-finite value and a wrong type, and
every choice flag an unknown choice. Loaders are replaced by tripwires, so a check that runs
only after a model or a dataset was loaded fails the test.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from distilvit.cli import build_parser, main
from distilvit.options import Bounds

FLAGS_SNAPSHOT = Path(__file__).parent / "fixtures" / "cli_flags.json"
REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")

# The positionals and required flags that make each subcommand's line complete; MODEL and OUT
# are replaced by paths under tmp_path (MODEL does not exist: nothing may get to open it).
BASE_ARGS = {
    "train": [],
    "eval": ["MODEL"],
    "caption": ["MODEL", "x.png"],
    "merge": ["MODEL", "OUT"],
    "export": ["MODEL", "--output-dir", "OUT"],
    "push": ["MODEL", "--repo", "org/name"],
    "demo": [],
    "serve": ["MODEL"],
    "gradio": ["MODEL"],
    "data merge": [],
    "data debias": ["MODEL"],
    "data prompts": [],
    "quality": ["MODEL"],
}


def subparsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command words, parser) for every leaf subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(prefix), parser
        return
    for name, sub in subs[0].choices.items():
        yield from subparsers(sub, (*prefix, name))


def flag_sets() -> dict[str, list[str]]:
    sets = {}
    for words, parser in subparsers(build_parser()):
        sets[words] = sorted(s for a in parser._actions for s in a.option_strings)
    return sets


def bad_values(action: argparse.Action) -> list[str]:
    """Values the flag must refuse: out of range, not finite, the wrong type."""
    field = action.type.field
    bounds: Bounds = field.metadata["bounds"]
    is_int = action.type.__name__ == "int"
    values = ["abc"]
    if bounds.at_least is not None:
        values.append(str(int(bounds.at_least) - 1 if is_int else bounds.at_least - 0.5))
    if bounds.above is not None:
        values += [str(int(bounds.above) if is_int else bounds.above), "-7"]
    if bounds.at_most is not None:
        values.append(str(int(bounds.at_most) + 1 if is_int else bounds.at_most + 0.5))
    if bounds.below is not None:
        values.append(str(int(bounds.below) if is_int else bounds.below))
    if is_int:
        values.append("2.5")
    else:
        values += ["nan", "inf", "1e999"]
    return values


def flag_cases() -> list[tuple[str, str, str]]:
    cases = []
    for words, parser in subparsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.default is not argparse.SUPPRESS:
                continue
            flag = action.option_strings[0]
            if action.choices is not None:
                cases.append((words, flag, "bogus-choice"))
            elif hasattr(action.type, "field"):
                cases += [(words, flag, value) for value in bad_values(action)]
    return cases


@pytest.fixture
def tripwires(monkeypatch):
    """Every loader and writer a command could reach before checking its flags fails loudly.

    Modules that bind a loader by name at import are imported first, so that none of them
    keeps a tripwire after the test.
    """
    import distilvit.caption_model
    import distilvit.commands.caption
    import distilvit.data.features
    import distilvit.data.merge
    import distilvit.eval.evaluate
    import distilvit.export.hub
    import distilvit.export.verify
    import distilvit.quality.debias
    import distilvit.quality.prompts
    import distilvit.quality.records
    import distilvit.quality.report
    import distilvit.serve.app
    import distilvit.serve.backend
    import distilvit.serve.gradio_app
    import distilvit.train.run
    from distilvit.model import Captioner

    def tripwire(*args, **kwargs):
        raise AssertionError("loaded data or a model before the flags were checked")

    for owner, name in [(distilvit.caption_model, "open_model"),
                        (distilvit.serve.backend, "open_model"),
                        (distilvit.serve.backend, "load_backend"),
                        (distilvit.data.features, "load_split"),
                        (distilvit.train.run, "load_split"),
                        (distilvit.data.merge, "merge"),
                        (distilvit.export.hub, "read_folder"),
                        (distilvit.quality.debias, "run_debias"),
                        (distilvit.quality.prompts, "write_prompts"),
                        (distilvit.quality.records, "read_records")]:
        monkeypatch.setattr(owner, name, tripwire)
    monkeypatch.setattr(Captioner, "build", classmethod(tripwire))
    monkeypatch.setattr(Captioner, "from_pretrained", classmethod(tripwire))


def one_error_line(err: str) -> str:
    """The only `error:` line of stderr; fails on a traceback, a repr or a second error."""
    assert "Traceback" not in err, err
    assert not REPR.search(err), err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    return errors[0]


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def complete(words: str, extra: list[str], tmp_path: Path) -> list[str]:
    paths = {"MODEL": str(tmp_path / "model"), "OUT": str(tmp_path / "out")}
    base = [paths.get(arg, arg) for arg in BASE_ARGS[words]]
    output = ["--output-dir", str(tmp_path / "out")] if words == "train" else []
    return words.split() + base + output + extra


def test_every_subcommand_has_a_complete_line():
    assert set(BASE_ARGS) == {words for words, _ in subparsers(build_parser())}


def test_flag_names_are_kept():
    """Every flag the commands had before the configs were nested still exists."""
    before = json.loads(FLAGS_SNAPSHOT.read_text())
    now = flag_sets()
    for command, flags in before.items():
        if command in now:
            missing = set(flags) - set(now[command])
            assert not missing, f"{command} lost {sorted(missing)}"


def test_every_numeric_flag_declares_its_range():
    for words, parser in subparsers(build_parser()):
        for action in parser._actions:
            if action.type in (int, float):
                pytest.fail(f"{words} {action.option_strings[0]} has no declared range")
            if hasattr(action.type, "field"):
                assert "bounds" in action.type.field.metadata, (words, action.option_strings)


@pytest.mark.parametrize(("words", "flag", "value"), flag_cases())
def test_bad_flag_value_is_one_line_before_anything_loads(words, flag, value, tmp_path, capsys,
                                                          tripwires):
    code, err = run(complete(words, [flag, value], tmp_path), capsys)
    assert code == 2
    line = one_error_line(err)
    assert flag in line
    assert not (tmp_path / "out").exists()


# The cases of the table, and consistency checks between flags.
# (argparse words a range error `argument --max-length: must be >= 2 (got 0)`)
CONSISTENCY = [
    ("train", ["--max-length", "0"], "--max-length: must be >= 2 (got 0)"),
    ("train", ["--pixel-shuffle-factor", "0"], "--pixel-shuffle-factor: must be >= 1 (got 0)"),
    ("train", ["--batch-size", "0", "--max-steps", "1"], "--batch-size: must be >= 1 (got 0)"),
    ("caption", ["--num-beams", "0"], "--num-beams: must be >= 1 (got 0)"),
    ("train", ["--preset", "huge"], "--preset 'huge' is unknown"),
    ("train", ["--dataset"], "--dataset needs at least one name"),
    ("eval", ["--dataset"], "--dataset needs at least one name"),
    ("quality", ["--min-words", "9", "--max-words", "5"], "--min-words 9 is larger than"),
    ("serve", ["--max-images", "20", "--queue-size", "10"], "--max-images 20 is larger than"),
    ("data merge", ["--datasets"], "--datasets needs at least one source"),
    ("train", ["--device", "gpu"], "--device 'gpu' is not a device"),
    ("eval", ["--device", "gpu"], "--device 'gpu' is not a device"),
    ("caption", ["--device", "tpu"], "--device 'tpu' is not a device"),
    ("quality", ["--device", "gpu"], "--device 'gpu' is not a device"),
    ("train", ["--dataset-path", "/no/such/copy"], "/no/such/copy: no such file or folder"),
]


@pytest.mark.parametrize(("words", "extra", "said"), CONSISTENCY)
def test_table_and_consistency_cases(words, extra, said, tmp_path, capsys, tripwires):
    code, err = run(complete(words, extra, tmp_path), capsys)
    assert code == 2
    assert said in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_min_new_tokens_above_max_is_one_line(trained_dir, images, capsys):
    """Checked against the model's own defaults, so after reading the model (not before)."""
    code, err = run(["caption", str(trained_dir), str(images[0]), "--min-new-tokens", "9",
                     "--max-new-tokens", "3"], capsys)
    assert code == 2
    assert "--min-new-tokens 9 is larger than --max-new-tokens 3" in one_error_line(err)


def _inputs(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not an image, not a model")
    empty = tmp_path / "empty"
    empty.mkdir()
    return {"missing": tmp_path / "nope", "empty folder": empty, "text file": text}


MODEL_COMMANDS = [("eval", []), ("caption", ["x.png"]), ("merge", ["OUT"]),
                  ("export", ["--output-dir", "OUT"]), ("serve", []), ("gradio", []),
                  ("serve", ["--workers", "2"]), ("push", ["--repo", "org/name", "--dry-run"]),
                  ("demo", [])]


@pytest.mark.parametrize(("words", "rest"), MODEL_COMMANDS)
@pytest.mark.parametrize("kind", ["missing", "empty folder", "text file"])
def test_wrong_model_folder_is_one_line(words, rest, kind, tmp_path, capsys):
    given = _inputs(tmp_path)[kind]
    rest = [str(tmp_path / "out") if arg == "OUT" else arg for arg in rest]
    code, err = run([words, str(given), *rest], capsys)
    assert code == 2
    assert str(given) in one_error_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("words", ["quality", "data debias"])
@pytest.mark.parametrize("kind", ["missing", "text file"])
def test_wrong_dataset_input_is_one_line(words, kind, tmp_path, capsys):
    given = _inputs(tmp_path)[kind]
    extra = ["--output", str(tmp_path / "out.jsonl")] if words == "data debias" else \
        ["--output-dir", str(tmp_path / "out")]
    code, err = run([*words.split(), str(given), *extra], capsys)
    assert code == 2
    assert str(given) in one_error_line(err)


def test_a_text_file_given_as_an_image(trained_dir, tmp_path, capsys):
    """One line naming the file, no `<_io.BytesIO object at 0x...>`; other images still
    get captions, so the run's code is 1 (some inputs failed), as documented."""
    text = tmp_path / "photo.png"
    text.write_text("this is text, not a PNG")
    code, err = run(["caption", str(trained_dir), str(text)], capsys)
    assert code == 1
    line = one_error_line(err)
    assert str(text) in line and "not a readable image" in line


def test_unknown_dataset_is_one_line_before_a_model_loads(tmp_path, capsys, tripwires):
    code, err = run(["train", "--dataset", "no-such-set", "--output-dir", str(tmp_path / "o")],
                    capsys)
    assert code == 2
    assert "no-such-set" in one_error_line(err)
    assert not (tmp_path / "o").exists()


def test_pixel_shuffle_factor_that_misses_the_grid(vision_dir, lm_dirs, tmp_path, capsys,
                                                   monkeypatch):
    """Only the tower knows its grid (4x4 here), so this is found when the model is built,
    still before any data is loaded."""
    import distilvit.train.run

    monkeypatch.setattr(distilvit.train.run, "load_split",
                        lambda *a, **k: pytest.fail("data loaded before the model check"))
    code, err = run(["train", "--encoder-model", str(vision_dir), "--decoder-model",
                     str(lm_dirs["llama"]), "--pixel-shuffle-factor", "3", "--output-dir",
                     str(tmp_path / "out")], capsys)
    assert code == 2
    assert "--pixel-shuffle-factor 3 does not divide" in one_error_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("flag", "value", "said"), [
    ("--lora-targets", "nonsense", "--lora-targets 'nonsense' matches no module"),
    ("--separator-token", "zzzq", "--separator-token 'zzzq' is not in the tokenizer"),
])
def test_model_settings_the_bases_refuse(flag, value, said, vision_dir, lm_dirs, tmp_path,
                                         capsys, monkeypatch):
    import distilvit.train.run

    monkeypatch.setattr(distilvit.train.run, "load_split",
                        lambda *a, **k: pytest.fail("data loaded before the model check"))
    code, err = run(["train", "--encoder-model", str(vision_dir), "--decoder-model",
                     str(lm_dirs["llama"]), flag, value, "--output-dir", str(tmp_path / "out")],
                    capsys)
    assert code == 2
    assert said in one_error_line(err)
    assert not (tmp_path / "out").exists()
