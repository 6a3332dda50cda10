import json

from distilvit.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_caption_help_derives_flags_from_config(capsys):
    assert main(["caption", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--num-beams" in out and "--max-new-tokens" in out and "--batch-size" in out


def test_caption_folder_with_a_corrupt_file(trained_dir, images, capsys):
    folder = images[0].parent
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    code = main(["caption", str(trained_dir), str(folder), "--json", "--batch-size", "2"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    good = [r for r in rows if "caption" in r]
    assert sorted(r["image"] for r in good) == sorted(str(p) for p in images)
    errors = [r for r in rows if "error" in r]
    assert [r["image"] for r in errors] == [str(folder / "broken.jpg")]
    assert captured.err.count("\n") == 1 and "broken.jpg" in captured.err


def test_caption_matches_the_python_api(trained_dir, images, capsys):
    from distilvit.model import Captioner

    expected = Captioner.from_pretrained(trained_dir).caption(images[:1], num_beams=2)
    assert main(["caption", str(trained_dir), str(images[0]), "--num-beams", "2"]) == 0
    assert capsys.readouterr().out.strip() == expected[0]


def test_not_a_model_dir_is_a_usage_error(tmp_path, images, capsys):
    assert main(["caption", str(tmp_path), str(images[0])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a distilvit model" in err
    assert err.count("\n") == 1


def test_missing_image_fails_but_others_caption(trained_dir, images, capsys):
    code = main(["caption", str(trained_dir), str(images[0]), "nope.png"])
    captured = capsys.readouterr()
    assert code == 1
    assert "nope.png: no such file" in captured.err
    assert captured.out.startswith(f"{images[0]}: ")


def test_merge_then_caption(trained_dir, tmp_path, images, capsys):
    assert main(["merge", str(trained_dir), str(tmp_path / "merged")]) == 0
    capsys.readouterr()
    assert main(["caption", str(tmp_path / "merged"), str(images[0])]) == 0
    merged_caption = capsys.readouterr().out
    assert main(["caption", str(trained_dir), str(images[0])]) == 0
    assert capsys.readouterr().out == merged_caption


def test_bad_flag_is_usage_error(trained_dir, capsys):
    assert main(["caption", str(trained_dir), "x.png", "--num-beams", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err
