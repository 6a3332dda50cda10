"""The docs and the Makefile against the code: every `make help` target parses, every flag a
doc gives a `distilvit` command exists in that command's parser, every relative link and every
`src/`, `bench/`, `tests/` path a doc names exists."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from distilvit.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]

# Flags of other tools that docs show; each with the tool and why it is there. Keep it small:
# an entry no doc uses any more fails test_other_tool_flags_are_still_needed.
OTHER_TOOLS: dict[str, str] = {
    "--repo-type": "huggingface-cli download (datasets.md: fetching a hub dataset by hand)",
    "--local-dir": "huggingface-cli download (datasets.md: fetching a hub dataset by hand)",
    "--no-deps": "pip install (onnx-export.md: the torch-free install)",
    "--nproc_per_node": "torchrun (training.md: DDP training)",
    "--head": "ray start (batch.md: starting a Ray cluster)",
    "--keep-duplicates": "pytest (serving.md: the shutdown test repeated 30 times)",
}


# ----- Makefile --------------------------------------------------------------------------------
def help_targets() -> list[str]:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_documented_target():
    documented = re.findall(r"^([a-zA-Z_-]+):[^\n]*## ", (ROOT / "Makefile").read_text(), re.M)
    assert help_targets() == documented and len(documented) > 10


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("venv", ["fresh", "existing"])
def test_every_make_target_parses(tmp_path, venv):
    """`make -n TARGET` prints what it would run without running it: with no virtual
    environment yet (a fresh clone) and with a complete one (a stamped fake .venv)."""
    venv_dir = tmp_path / ".venv"
    if venv == "existing":
        (venv_dir / "bin").mkdir(parents=True)
        (venv_dir / "bin" / "python").write_text("")
        (venv_dir / ".installed").write_text("")
    failures = []
    for target in help_targets():
        result = subprocess.run(["make", "-n", target, f"VENV={venv_dir}"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            failures.append(f"make -n {target}: {result.stderr.strip()[-300:]}")
        elif target != "help" and not result.stdout.strip():
            failures.append(f"make -n {target} prints nothing to run")
    assert not failures, "\n".join(failures)
    assert not venv_dir.exists() or venv == "existing"  # -n created nothing


def test_targets_that_run_the_venv_depend_on_install():
    """A target whose recipe runs .venv binaries fails on a fresh clone without `install`."""
    text = (ROOT / "Makefile").read_text()
    missing = []
    for match in re.finditer(r"^([a-zA-Z_-]+):(?!=)([^\n]*)\n((?:\t[^\n]*\n?)+)", text, re.M):
        target, prerequisites, recipe = match.groups()
        runs_venv = "$(PY)" in recipe or "$(VENV)/bin" in recipe
        if runs_venv and target not in ("install",) and not target.startswith("$"):
            if "install" not in prerequisites.split("##")[0].split():
                missing.append(target)
    assert not missing, f"Makefile targets running .venv binaries without `install`: {missing}"


# ----- flags -------------------------------------------------------------------------------------
@cache
def command_flags() -> dict[str, frozenset[str]]:
    """'train' -> its option strings; 'data merge' -> ...; 'data' -> every data subcommand's."""
    flags: dict[str, frozenset[str]] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> frozenset[str]:
        own = {s for a in parser._actions for s in a.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    own |= walk(child, f"{path} {name}".strip())
        flags[path] = frozenset(own)
        return flags[path]

    walk(build_parser(), "")
    return flags


@cache
def bench_flags() -> dict[str, frozenset[str]]:
    """'bench/serve_load.py' -> the flags its argparse parser declares."""
    return {f"bench/{path.name}": frozenset(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"",
                                                      path.read_text()))
            for path in sorted((ROOT / "bench").glob("*.py"))}


def all_flags() -> frozenset[str]:
    return command_flags()[""].union(*bench_flags().values())


# `distilvit COMMAND [SUBCOMMAND]` or `bench/NAME.py`: what the flags after it belong to
COMMAND = re.compile(r"(?<![\w./-])(?:distilvit\s+([a-z]+)(?:\s+([a-z]+))?|(bench/\w+\.py))")
FLAG = re.compile(r"(?<![\w-])(--[a-zA-Z][\w-]*)")
SHELL_BREAK = re.compile(r"\s(?:\|\||&&|\||;)\s")  # a pipe or a list: another command follows


def commands_in(text: str) -> list[tuple[str, list[str]]]:
    """(command, flags) for each `distilvit COMMAND ...` or `bench/NAME.py ...` in `text`, the
    flags up to the next command or shell break. Commands are 'train', 'data merge',
    'bench/serve_load.py', ..."""
    known = {**command_flags(), **bench_flags()}
    found = []
    matches = list(COMMAND.finditer(text))
    for i, match in enumerate(matches):
        name, sub, script = match.groups()
        if script:
            command = script
        elif name in known and name:
            command = f"{name} {sub}" if sub and f"{name} {sub}" in known else name
        else:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        tail = SHELL_BREAK.split(text[match.end():end])[0]
        found.append((command, FLAG.findall(tail)))
    return found


def code_texts(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every code-block line and inline code span."""
    texts, in_block = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block:
            texts.append((number, line))
        else:
            texts += [(number, span) for span in re.findall(r"`([^`]+)`", line)]
    return texts


def doc_commands(path: Path) -> list[tuple[int, str, str, list[str]]]:
    """(line number, text, command, flags): code-block commands with their continuation
    lines (indented, or after a trailing backslash), and commands inside inline code spans."""
    lines = path.read_text().splitlines()
    found, in_block, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_block = not in_block
            i += 1
            continue
        if in_block and COMMAND.search(line):
            start, text = i, line
            while i + 1 < len(lines) and (text.rstrip().endswith("\\") or (
                    lines[i + 1][:1].isspace() and lines[i + 1].strip()
                    and not COMMAND.search(lines[i + 1]))):
                i += 1
                text += " " + lines[i].strip()
            found += [(start + 1, text.strip(), c, f) for c, f in commands_in(text)]
        elif not in_block:
            for span in re.findall(r"`([^`]+)`", line):
                found += [(i + 1, span, c, f) for c, f in commands_in(span)]
        i += 1
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_a_doc_gives_a_command_exists(doc):
    """`distilvit train --x` or `python bench/y.py --x` in a doc: that command has --x."""
    known = {**command_flags(), **bench_flags()}
    wrong = []
    for number, text, command, flags in doc_commands(doc):
        for flag in flags:
            if flag not in known[command]:
                helper = command if command.startswith("bench/") else f"distilvit {command}"
                wrong.append(f"{doc.relative_to(ROOT)}:{number}: `{helper}` has no {flag} "
                             f"(see `{helper} --help`) in: {text[:120]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_a_doc_names_exists(doc):
    """A `--flag` in prose (no command before it): some distilvit command or bench script
    has it, or it is another tool's (OTHER_TOOLS)."""
    known = all_flags() | set(OTHER_TOOLS)
    wrong = [f"{doc.relative_to(ROOT)}:{number}: no distilvit command or bench script has "
             f"{flag} (in: {text.strip()[:120]})"
             for number, text in code_texts(doc) for flag in FLAG.findall(text)
             if flag not in known]
    assert not wrong, "\n".join(wrong)


def test_the_flag_checks_catch_a_wrong_flag():
    assert commands_in("distilvit train --preset tiny --no-such-flag 3 | tee log") == \
        [("train", ["--preset", "--no-such-flag"])]
    assert "--no-such-flag" not in command_flags()["train"]
    assert "--no-such-flag" not in all_flags()
    assert commands_in("distilvit data merge --save-path D && pytest --lf") == \
        [("data merge", ["--save-path"])]
    assert commands_in("python bench/serve_load.py --seconds 3") == \
        [("bench/serve_load.py", ["--seconds"])]
    assert "--seconds" in bench_flags()["bench/serve_load.py"]
    assert "--max-steps" in command_flags()["train"]  # the walk reaches every command
    assert "--save-path" in command_flags()["data merge"]


def test_other_tool_flags_are_still_needed():
    """An allow-list entry no doc uses any more is removed, so the list stays small."""
    used = {flag for doc in DOCS for _, text in code_texts(doc) for flag in FLAG.findall(text)}
    assert set(OTHER_TOOLS) <= used, set(OTHER_TOOLS) - used
    assert not set(OTHER_TOOLS) & all_flags()  # not ours after all: drop it


# ----- links and paths ---------------------------------------------------------------------------
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"(?<![\w./-])((?:src|bench|tests)/[\w./*-]*[\w*/])")


def anchors(path: Path) -> set[str]:
    """GitHub's heading slugs: lowercased, punctuation dropped, spaces to hyphens."""
    slugs = set()
    for heading in re.findall(r"^#+\s+(.*)$", path.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        slugs.add(slug.replace(" ", "-"))
    return slugs


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_repo_path_exists(doc):
    wrong = []
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            if not linked.exists():
                wrong.append(f"{doc.relative_to(ROOT)}:{number}: link to missing {target}")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                wrong.append(f"{doc.relative_to(ROOT)}:{number}: no heading #{anchor} in "
                             f"{linked.relative_to(ROOT)}")
        for name in REPO_PATH.findall(line):
            # An all-capitals segment is a placeholder (src/distilvit/assets/NAME): any name.
            pattern = re.sub(r"(?<![^/])[A-Z][A-Z_]*(?![^/])", "*", name.rstrip("/"))
            if not any(ROOT.glob(pattern)):
                wrong.append(f"{doc.relative_to(ROOT)}:{number}: no file {name}")
    assert not wrong, "\n".join(wrong)
