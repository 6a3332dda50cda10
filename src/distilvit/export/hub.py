"""Publishing a trained or exported folder on the Hugging Face Hub, with a generated model card."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilvit.errors import DistilvitError, UsageError
from distilvit.folders import CONFIG_FILE, read_config_json
from distilvit.ort.files import EXPORT_KEY

CARD_FILE = "README.md"
SKIPPED_DIRS = {"checkpoint", "checkpoint.tmp", "__pycache__"}  # resumable state is not a model
REPO_PATTERN = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass
class Folder:
    path: Path
    kind: str  # "export" or "checkpoint"
    captioner: dict[str, Any]  # CaptionerConfig as saved
    export: dict[str, Any] | None  # the distilvit_export block of an export


def read_folder(path: str | Path) -> Folder:
    folder = Path(path)
    config = read_config_json(folder, "`distilvit train`, `merge` or `export`")
    if EXPORT_KEY in config:
        return Folder(folder, "export", config[EXPORT_KEY]["captioner"], config[EXPORT_KEY])
    if "distilvit_format" in config:
        return Folder(folder, "checkpoint", config["captioner"], None)
    raise UsageError(f"{path}: {CONFIG_FILE} is not a distilvit model or export")


def upload_list(folder: Folder) -> list[tuple[str, int]]:
    """(path in the repo, bytes) of every file that goes up, the folder's own card included."""
    files = []
    for path in sorted(folder.path.rglob("*")):
        rel = path.relative_to(folder.path)
        if not path.is_file() or rel.parts[0] in SKIPPED_DIRS or any(
                part.startswith(".") for part in rel.parts):
            continue
        files.append((rel.as_posix(), path.stat().st_size))
    return files


def check_repo(repo: str) -> None:
    if not REPO_PATTERN.match(repo):
        raise UsageError(f"--repo {repo!r}: expected ORG/NAME")


def push(path: str | Path, repo: str, private: bool, card: str) -> str:
    """Create the repository if needed and upload everything in one commit; return its URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    folder = read_folder(path)
    files = upload_list(folder)
    operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(folder.path / rel))
                  for rel, _ in files]
    if CARD_FILE not in {rel for rel, _ in files}:
        operations.append(CommitOperationAdd(path_in_repo=CARD_FILE,
                                             path_or_fileobj=card.encode()))
    api = HfApi()
    try:
        url = api.create_repo(repo, private=private, exist_ok=True)
        api.create_commit(repo, operations=operations,
                          commit_message=f"Upload {folder.kind} with distilvit")
    except Exception as exc:  # network, auth, quota: all end the command with one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DistilvitError(f"upload to {repo} failed: {first[:200]}") from None
    return str(url)
