"""The Gradio demo, launched on loopback and called with gradio_client; no outside traffic."""

from __future__ import annotations

import socket

import pytest

from distilvit.serve.config import BatchConfig, GradioConfig, LimitsConfig
from serve_fixtures import png_header_only, shapes_images

# gradio uses pandas APIs that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Outbound:
    """Records (and refuses) every name lookup or connection beyond loopback."""

    def __init__(self):
        self.attempts: list[object] = []
        self.connect_original = socket.socket.connect
        self.getaddrinfo_original = socket.getaddrinfo

    def connect(self, sock: socket.socket, address) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            self.attempts.append(address)
            raise ConnectionRefusedError(f"test forbids outbound traffic to {address}")
        return self.connect_original(sock, address)

    def getaddrinfo(self, host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOOPBACK:
            self.attempts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test forbids looking up {name}")
        return self.getaddrinfo_original(host, *args, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def outbound():
    guard = Outbound()
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", lambda sock, address: guard.connect(sock, address))
    mp.setattr(socket, "getaddrinfo", guard.getaddrinfo)
    from distilvit.serve.gradio_app import OFFLINE_ENV

    for key, value in OFFLINE_ENV.items():  # so that undo() restores what launch() sets
        mp.setenv(key, value)
    # As under `distilvit gradio`: huggingface_hub was imported (by transformers) before any
    # switch was set, so its telemetry is on until the demo turns it off.
    import huggingface_hub.constants

    mp.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_TELEMETRY", False)
    yield guard
    mp.undo()


@pytest.fixture(scope="module")
def demo(shapes_export_dir, outbound, tmp_path_factory):
    from distilvit.serve.backend import load_backend
    from distilvit.serve.gradio_app import launch

    port = free_port()
    app, state = launch(load_backend(shapes_export_dir), GradioConfig(port=port, examples=3),
                        LimitsConfig(max_pixels=1_000_000), BatchConfig(), block=False)
    try:
        yield f"http://127.0.0.1:{port}/", state
    finally:
        app.close()
        state.batcher.close()


@pytest.fixture(scope="module")
def client(demo):
    from gradio_client import Client

    return Client(demo[0], verbose=False, download_files=False)


def test_caption_matches_the_python_api(client, shapes_export_dir, tmp_path):
    from gradio_client import handle_file

    from distilvit.ort import OnnxCaptioner

    pngs = shapes_images(2, start=20)
    expected = OnnxCaptioner(shapes_export_dir).caption(pngs)
    for i, png in enumerate(pngs):
        path = tmp_path / f"scene-{i}.png"
        path.write_bytes(png)
        assert client.predict(handle_file(path), 1, 24, api_name="/caption") == expected[i]
    beams = OnnxCaptioner(shapes_export_dir).caption(pngs[:1], num_beams=3, max_new_tokens=6)
    assert client.predict(handle_file(tmp_path / "scene-0.png"), 3, 6,
                          api_name="/caption") == beams[0]


def test_examples_are_synthetic_scenes(demo, client, shapes_export_dir):
    from gradio_client import handle_file

    from distilvit.ort import OnnxCaptioner

    config = client.config
    examples = [c for c in config["components"] if c.get("type") == "dataset"]
    assert examples, "the demo shows no examples"
    paths = [sample[0]["path"] for sample in examples[0]["props"]["samples"]]
    assert len(paths) == 3 and all("shapes-test-" in p for p in paths)
    want = OnnxCaptioner(shapes_export_dir).caption(shapes_images(1))
    assert client.predict(handle_file(paths[0]), 1, 24, api_name="/caption") == want[0]


def test_server_limits_apply(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(2_000, 1_000))  # 2 Mpx: over this demo's 1 Mpx limit
    with pytest.raises(AppError, match="2000x1000 pixels is over the server's 1,000,000-pixel"):
        client.predict(handle_file(big), 1, 24, api_name="/caption")
    good = tmp_path / "good.png"
    good.write_bytes(shapes_images(1)[0])
    beams = LimitsConfig().max_num_beams
    with pytest.raises(AppError, match=f"greater than maximum value {beams}"):  # the slider
        client.predict(handle_file(good), beams + 1, 24, api_name="/caption")


def test_nothing_left_loopback(client, outbound):
    assert client.predict  # the demo has run every call above by now
    assert outbound.attempts == []
