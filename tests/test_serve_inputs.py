"""Bad input never gives a 500: every file of the corpus, by multipart and by JSON, gets the
right 4xx and a one-line JSON error naming the problem."""

from __future__ import annotations

import base64

import pytest
import requests

from distilvit.serve.config import LimitsConfig
from serve_fixtures import bad_corpus, running_server, shapes_images

UPLOAD_MB = 1.0


@pytest.fixture(scope="module")
def url(shapes_export_dir):
    with running_server(shapes_export_dir, limits=LimitsConfig(max_upload_mb=UPLOAD_MB)) as base:
        yield base


def assert_json_error(response: requests.Response, status: int, says: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status and says.lower() in body["error"].lower(), body
    assert "Traceback" not in response.text and "\n" not in body["error"]


@pytest.mark.parametrize("bad", bad_corpus(), ids=lambda bad: bad.name)
def test_bad_file_by_multipart(url, bad):
    response = requests.post(f"{url}/caption", files={"image": (bad.name, bad.data)},
                             timeout=60)
    assert_json_error(response, bad.status, bad.says)
    assert bad.name in response.json()["error"]  # names the file


@pytest.mark.parametrize("bad", bad_corpus(), ids=lambda bad: bad.name)
def test_bad_file_by_json(url, bad):
    body = {"image": base64.b64encode(bad.data).decode()}
    response = requests.post(f"{url}/caption", json=body, timeout=60)
    assert_json_error(response, bad.status, bad.says)


def test_one_bad_file_among_good_ones_names_it(url):
    good = shapes_images(2)
    files = [("image", ("ok-0.png", good[0])), ("image", ("broken.png", good[1][:30])),
             ("image", ("ok-1.png", good[1]))]
    response = requests.post(f"{url}/caption", files=files, timeout=60)
    assert_json_error(response, 400, "broken.png")


def test_huge_upload_is_413(url):
    huge = b"\x89PNG\r\n\x1a\n" + bytes(int(2.5 * UPLOAD_MB * 2**20))
    by_form = requests.post(f"{url}/caption", files={"image": ("huge.png", huge)}, timeout=60)
    assert_json_error(by_form, 413, f"{UPLOAD_MB:g} MB")
    by_json = requests.post(f"{url}/caption", timeout=60,
                            json={"image": base64.b64encode(huge).decode()})
    assert_json_error(by_json, 413, "limit")
    # Far beyond: waitress refuses it before reading it all (plain text, still a 413).
    far = requests.post(f"{url}/caption", data=bytes(8 * 2**20), timeout=60,
                        headers={"Content-Type": "application/octet-stream"})
    assert far.status_code == 413


@pytest.mark.parametrize("request_kwargs, status, says", [
    ({"files": {"picture": ("a.png", b"x")}}, 400, "unknown field"),
    ({"data": {"num_beams": "1"}, "files": {}}, 415, "content type"),  # urlencoded form
    ({"json": {"num_beams": 1}}, 400, "missing key 'image'"),
    ({"json": {"image": []}}, 400, "empty list"),
    ({"json": {"image": "aGVsbG8=", "beams": 2}}, 400, "unknown key"),
    ({"json": {"image": 42}}, 400, "base64 string"),
    ({"json": ["image"]}, 400, "JSON object"),
    ({"json": {"image": "not base64 at all!"}}, 400, "not valid base64"),
    ({"json": {"image": "https://example.org/cat.jpg"}}, 400, "URLs are not fetched"),
    ({"json": {"image": "file:///etc/passwd"}}, 400, "URLs are not fetched"),
    ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "JSON"),
    ({"data": b"abc", "headers": {"Content-Type": "text/plain"}}, 415, "content type"),
    ({}, 415, "content type"),
])
def test_malformed_requests(url, request_kwargs, status, says):
    response = requests.post(f"{url}/caption", timeout=60, **request_kwargs)
    assert_json_error(response, status, says)


def test_missing_file_field_in_multipart(url):
    # A multipart body whose only part is a text field: no 'image' file.
    response = requests.post(f"{url}/caption", files={"num_beams": (None, "2")}, timeout=60)
    assert_json_error(response, 400, "missing file field 'image'")
    text = requests.post(f"{url}/caption", files={"image": (None, "aGVsbG8=")}, timeout=60)
    assert_json_error(text, 400, "file part")


def test_too_many_images(url):
    one = shapes_images(1)[0]
    files = [("image", (f"{i}.png", one)) for i in range(LimitsConfig().max_images + 1)]
    response = requests.post(f"{url}/caption", files=files, timeout=60)
    assert_json_error(response, 400, "at most")


def test_unknown_routes_and_methods_are_json(url):
    assert_json_error(requests.get(f"{url}/nope", timeout=10), 404, "not found")
    wrong = requests.get(f"{url}/caption", timeout=10)
    assert_json_error(wrong, 405, "not allowed")
    assert "POST" in wrong.headers["Allow"]
