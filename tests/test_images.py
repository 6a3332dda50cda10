import io

import numpy as np
import pytest
from PIL import Image

from distilvit.errors import ImageError
from distilvit.images import load_image


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P", "CMYK", "RGBA", "LA", "I;16", "F"])
def test_every_mode_becomes_rgb(mode):
    image = Image.new(mode, (8, 6))
    out = load_image(image)
    assert out.mode == "RGB" and out.size == (8, 6)


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(_encode(image, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_is_rescaled_not_clipped():
    array = np.full((4, 4), 32768, dtype=np.uint16)
    image = Image.fromarray(array)
    assert image.mode.startswith("I;16")
    value = load_image(_encode(image, "PNG")).getpixel((0, 0))
    assert value == (128, 128, 128)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (10, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert load_image(buffer.getvalue()).size == (4, 10)


@pytest.mark.parametrize("data, message", [
    (b"", "empty file"),
    (b"hello, I am text\n" * 10, "not a readable image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not a readable image"),
    (b"%PDF-1.4\n%...", "not a readable image"),
])
def test_bad_bytes_raise_one_line(data, message):
    with pytest.raises(ImageError, match=message) as info:
        load_image(data)
    assert "\n" not in str(info.value)
    assert " object at 0x" not in str(info.value)  # no `<_io.BytesIO object at 0x...>`


def test_a_text_file_named_like_an_image_names_the_file(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("not a photo")
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: not a readable image (not an image format Pillow knows)"


def test_truncated_file(tmp_path):
    data = _encode(Image.new("RGB", (64, 64), (10, 200, 30)), "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(path)


def test_decompression_bomb_is_refused():
    data = _encode(Image.new("1", (9000, 9000)), "PNG")  # tiny file, 81 Mpx
    with pytest.raises(ImageError, match="pixel limit"):
        load_image(data)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)
