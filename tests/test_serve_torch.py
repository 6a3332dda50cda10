"""The REST API with the torch backend (a trained checkpoint, not an export)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from distilvit.config import BackendConfig
from distilvit.errors import UsageError
from distilvit.serve.config import BatchConfig
from serve_fixtures import running_server, shapes_images

CLIENTS = 8


def test_torch_backend_matches_the_python_api_under_concurrency(shapes_model_dir):
    from distilvit.model import Captioner

    pngs = shapes_images(CLIENTS, start=40)
    model = Captioner.from_pretrained(shapes_model_dir)
    expected = model.caption(pngs)
    batching = BatchConfig(max_batch_size=8, max_wait_ms=50)
    with running_server(shapes_model_dir, threads=CLIENTS + 4, batching=batching) as url:
        info = requests.get(f"{url}/info", timeout=10).json()
        assert info["backend"] == "torch" and info["device"] == "cpu"
        barrier = threading.Barrier(CLIENTS)

        def client(i: int) -> requests.Response:
            barrier.wait()
            return requests.post(f"{url}/caption", files={"image": (f"{i}.png", pngs[i])},
                                 timeout=60)

        with ThreadPoolExecutor(CLIENTS) as pool:
            responses = list(pool.map(client, range(CLIENTS)))
        assert [r.status_code for r in responses] == [200] * CLIENTS
        assert [r.json()["captions"][0]["caption"] for r in responses] == expected
        beams = requests.post(f"{url}/caption", files={"image": ("a.png", pngs[0])},
                              data={"num_beams": "2"}, timeout=60)
        want = model.caption(pngs[:1], num_beams=2)
        assert [c["caption"] for c in beams.json()["captions"]] == want


def test_backend_onnx_on_a_checkpoint_is_a_usage_error(shapes_model_dir):
    from distilvit.serve import create_app

    with pytest.raises(UsageError, match="not an exported model"):
        create_app(shapes_model_dir, backend_config=BackendConfig(backend="onnx"))
