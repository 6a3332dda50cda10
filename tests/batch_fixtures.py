"""Image trees for the batch-captioning tests: nested folders, PNG and JPEG, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The tiny test models run ~30x faster on one thread than on two when the (shared) machine
    is oversubscribed: OpenMP's barrier waits dominate such small matmuls."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def image_tree(root: Path, count: int = 9, seed: int = 0) -> list[Path]:
    """`count` small images spread over root/, root/a/ and root/a/b/ (PNG and JPEG, sizes
    between 24 and 80 px), in the order a recursive sorted walk lists them."""
    rng = np.random.default_rng(seed)
    folders = [root, root / "a", root / "a" / "b"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        width, height = (int(v) for v in rng.integers(24, 80, size=2))
        array = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        suffix = ".jpg" if i % 3 == 0 else ".png"
        path = folders[i % 3] / f"img{i:04d}{suffix}"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def add_bad_files(root: Path) -> list[Path]:
    """A corrupt PNG, an empty JPEG and a text file named .png, inside `root/bad`."""
    bad = root / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    corrupt = bad / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    empty = bad / "empty.jpg"
    empty.write_bytes(b"")
    text = bad / "notes.png"
    text.write_text("not an image")
    return [corrupt, empty, text]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
