"""The REST API on a real server (waitress, 127.0.0.1, ephemeral port), ONNX backend."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from distilvit.serve.config import BatchConfig, LimitsConfig
from serve_fixtures import running_server, shapes_images

CLIENTS = 32


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    return shapes_images(CLIENTS)


@pytest.fixture(scope="module")
def expected(shapes_export_dir, pngs) -> list[str]:
    """The Python API's captions for the same files (greedy, the model's defaults)."""
    from distilvit.ort import OnnxCaptioner

    return OnnxCaptioner(shapes_export_dir).caption(pngs)


@pytest.fixture(scope="module")
def url(shapes_export_dir):
    # 50 ms of batching window: concurrent test clients reliably share batches.
    with running_server(shapes_export_dir, threads=CLIENTS + 8,
                        batching=BatchConfig(max_batch_size=16, max_wait_ms=50)) as base:
        yield base


def post_file(url: str, data: bytes, name: str = "scene.png", **fields) -> requests.Response:
    return requests.post(f"{url}/caption", files={"image": (name, data, "image/png")},
                         data=fields, timeout=60)


def captions(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["caption"] for item in response.json()["captions"]]


def test_multipart_matches_the_python_api(url, pngs, expected):
    response = post_file(url, pngs[0], name="first.png")
    assert captions(response) == expected[:1]
    item = response.json()["captions"][0]
    assert item["image"] == "first.png" and item["batch_size"] >= 1
    timings = item["timings"]
    assert set(timings) == {"decode_ms", "queue_ms", "inference_ms", "total_ms"}
    assert 0 < timings["inference_ms"] <= timings["total_ms"]


def test_several_files_in_one_request_keep_their_order(url, pngs, expected):
    files = [("image", (f"{i}.png", pngs[i], "image/png")) for i in (3, 1, 2)]
    response = requests.post(f"{url}/caption", files=files, timeout=60)
    assert captions(response) == [expected[3], expected[1], expected[2]]
    assert [c["image"] for c in response.json()["captions"]] == ["3.png", "1.png", "2.png"]


def test_json_base64_single_and_list(url, pngs, expected):
    encoded = [base64.b64encode(p).decode() for p in pngs[:3]]
    one = requests.post(f"{url}/caption", json={"image": encoded[0]}, timeout=60)
    assert captions(one) == expected[:1]
    data_url = "data:image/png;base64," + encoded[1]
    many = requests.post(f"{url}/caption", json={"image": [data_url, encoded[2]]}, timeout=60)
    assert captions(many) == expected[1:3]


def test_generation_options_match_the_python_api(url, shapes_export_dir, pngs):
    from distilvit.ort import OnnxCaptioner

    want = OnnxCaptioner(shapes_export_dir).caption(pngs[:2], num_beams=3, max_new_tokens=5)
    form = requests.post(f"{url}/caption", timeout=60, data={"num_beams": "3",
                                                             "max_new_tokens": "5"},
                         files=[("image", ("a.png", pngs[0])), ("image", ("b.png", pngs[1]))])
    assert captions(form) == want
    body = {"image": base64.b64encode(pngs[1]).decode(), "num_beams": 3, "max_new_tokens": 5}
    assert captions(requests.post(f"{url}/caption", json=body, timeout=60)) == want[1:]


def test_options_beyond_the_limits_are_refused(url, pngs):
    limits = LimitsConfig()
    for fields, says in [({"num_beams": str(limits.max_num_beams + 1)}, "num_beams"),
                         ({"max_new_tokens": "0"}, "max_new_tokens"),
                         ({"num_beams": "two"}, "integer")]:
        response = post_file(url, pngs[0], **fields)
        assert response.status_code == 400 and says in response.json()["error"]
    body = {"image": base64.b64encode(pngs[0]).decode(), "num_beams": 1.5}
    assert requests.post(f"{url}/caption", json=body, timeout=60).status_code == 400


def test_concurrent_clients_get_their_own_captions(url, pngs, expected):
    """32 clients at once: all 200, each its own image's caption, and batches did form."""
    assert len(set(expected)) >= 8, "too few distinct captions to detect cross-talk"
    before = requests.get(f"{url}/info", timeout=10).json()["stats"]
    barrier = threading.Barrier(CLIENTS)

    def client(i: int) -> tuple[int, list[str], int]:
        barrier.wait()
        response = post_file(url, pngs[i], name=f"{i}.png")
        body = response.json()
        return response.status_code, [c["caption"] for c in body.get("captions", [])], \
            max((c["batch_size"] for c in body.get("captions", [])), default=0)

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    assert [status for status, _, _ in results] == [200] * CLIENTS
    assert [got for _, got, _ in results] == [[caption] for caption in expected]
    after = requests.get(f"{url}/info", timeout=10).json()["stats"]
    assert after["images"] - before["images"] == CLIENTS
    assert after["batches"] - before["batches"] < CLIENTS  # some requests shared a model call
    assert max(size for _, _, size in results) > 1


def test_health_info_page_and_spec(url, shapes_export_dir):
    health = requests.get(f"{url}/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok", "queue": 0}
    info = requests.get(f"{url}/info", timeout=10).json()
    assert info["backend"] == "onnx" and info["variant"] == "fp32" and info["layout"] == "llava"
    assert info["model"] == shapes_export_dir.name
    assert info["base_models"] == {"vision": "builtin:tiny-vision", "language": "builtin:tiny-lm"}
    assert info["limits"]["max_upload_mb"] == LimitsConfig().max_upload_mb
    assert info["batching"]["max_wait_ms"] == 50
    page = requests.get(f"{url}/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'name="image"' in page.text and 'fetch("caption"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no outside assets
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "nonce-" in policy
    spec = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and "/caption" in spec["paths"]
    assert (spec["paths"]["/caption"]["post"]["requestBody"]["content"]["multipart/form-data"]
            ["schema"]["properties"]["num_beams"]["maximum"]) == LimitsConfig().max_num_beams


def test_cors_is_off_by_default(url, pngs):
    response = requests.post(f"{url}/caption", files={"image": ("a.png", pngs[0])},
                             headers={"Origin": "https://elsewhere.example"}, timeout=60)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(f"{url}/caption", timeout=10, headers={
        "Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_origin_when_asked(shapes_export_dir, pngs):
    origin = "https://app.example"
    with running_server(shapes_export_dir, cors=origin) as base:
        preflight = requests.options(f"{base}/caption", timeout=10, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        other = requests.get(f"{base}/info", headers={"Origin": "https://evil.example"},
                             timeout=10)
        assert "Access-Control-Allow-Origin" not in other.headers
        ok = requests.post(f"{base}/caption", files={"image": ("a.png", pngs[0])},
                           headers={"Origin": origin}, timeout=60)
        assert ok.headers["Access-Control-Allow-Origin"] == origin


def test_a_full_queue_answers_503_with_retry_after_at_once(shapes_export_dir, pngs, expected):
    """Queue of 2 images, one image per model call: a burst overflows it; nobody hangs."""
    batching = BatchConfig(max_batch_size=1, max_wait_ms=0, queue_size=2)
    with running_server(shapes_export_dir, threads=24, batching=batching,
                        limits=LimitsConfig(max_images=2)) as base:
        barrier = threading.Barrier(16)

        def client(i: int) -> requests.Response:
            barrier.wait()
            files = [("image", (f"{j}.png", pngs[j])) for j in (2 * i, 2 * i + 1)]
            return requests.post(f"{base}/caption", files=files, timeout=60)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(client, range(16)))
        busy = [r for r in responses if r.status_code == 503]
        assert {r.status_code for r in responses} <= {200, 503} and busy
        for response in busy:
            assert int(response.headers["Retry-After"]) >= 1
            assert "queue is full" in response.json()["error"]
            assert response.elapsed.total_seconds() < 5
        for i, response in enumerate(responses):
            if response.status_code == 200:
                assert captions(response) == expected[2 * i: 2 * i + 2]
        assert requests.get(f"{base}/health", timeout=10).json() == {"status": "ok", "queue": 0}


def test_a_request_that_waits_too_long_gets_503(shapes_export_dir, pngs):
    with running_server(shapes_export_dir,
                        limits=LimitsConfig(request_timeout_s=0.001)) as base:
        response = post_file(base, pngs[0])
        assert response.status_code == 503 and "no caption within" in response.json()["error"]
        assert response.headers["Retry-After"] == "1"


def test_a_vision_encoder_decoder_export_is_served_too(shapes_ved_dir, pngs):
    """The other export layout, through the same server: captions as its Python runtime's."""
    from distilvit.ort import open_captioner

    want = open_captioner(shapes_ved_dir).caption(pngs[:4])
    with running_server(shapes_ved_dir) as base:
        files = [("image", (f"{i}.png", pngs[i], "image/png")) for i in range(4)]
        response = requests.post(f"{base}/caption", files=files, timeout=60)
        assert captions(response) == want
        info = requests.get(f"{base}/info", timeout=10).json()
    assert info["backend"] == "onnx"
