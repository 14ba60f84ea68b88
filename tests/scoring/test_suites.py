"""Benchmark suites: the official layout, bad samples, subsets, manifests, sharding."""

import pytest

from scoring import suites
from toyworld.synthetic import write_benchmark


@pytest.fixture()
def bench(tmp_path):
    return write_benchmark(tmp_path / "bench", samples=4)


def test_loads_official_layout(bench):
    folder = suites.suite_folder(bench, "consistent", "50s")
    assert folder.name == "consisent_video_gen"  # the official (misspelt) name
    samples, bad = suites.load_samples(folder)
    assert [s.name for s in samples] == ["sample_00", "sample_01", "sample_02", "sample_03"] and not bad
    creative, _ = suites.load_samples(suites.suite_folder(bench, "creative", "50s"))
    assert len(creative[0].prompts) == 4 and len(samples[0].prompts) == 1
    # 250 s creative falls back to the normal folder when the longer one is absent
    assert suites.suite_folder(bench, "creative", "250s").name == "creative_video_gen"


def test_missing_folders_are_named(tmp_path, bench):
    with pytest.raises(FileNotFoundError, match="consisent_video_gen"):
        suites.suite_folder(tmp_path, "consistent", "50s")
    with pytest.raises(FileNotFoundError, match="hf download vita-video-gen/svi-benchmark"):
        suites.suite_folder(tmp_path, "creative", "50s")
    with pytest.raises(ValueError, match="consistent, creative"):
        suites.suite_folder(bench, "dance", "50s")


def test_bad_samples_are_named_or_skipped(bench):
    folder = bench / "creative_video_gen"
    (folder / "sample_00" / "image.png").unlink()
    (folder / "sample_01" / "image.png").write_bytes(b"not a png")
    (folder / "sample_02" / "prompt.txt").write_text("\n  \n")
    with pytest.raises(suites.BadSampleError) as e:
        suites.load_samples(folder)
    msg = str(e.value)
    assert (
        "sample_00: no image" in msg
        and "sample_01: unreadable image" in msg
        and "sample_02: prompt.txt is empty" in msg
    )
    assert "--skip-bad" in msg
    samples, bad = suites.load_samples(folder, skip_bad=True)
    assert [s.name for s in samples] == ["sample_03"] and len(bad) == 3


def test_subsets_and_shards(bench):
    samples, _ = suites.load_samples(bench / "creative_video_gen")
    assert [s.name for s in suites.select(samples, limit=2)] == ["sample_00", "sample_01"]
    assert [s.name for s in suites.select(samples, names=["sample_03", "sample_01"])] == [
        "sample_03",
        "sample_01",
    ]
    with pytest.raises(ValueError, match="known: sample_00"):
        suites.select(samples, names=["nope"])
    for world in (1, 2, 3, 5):
        parts = [suites.shard(samples, r, world) for r in range(world)]
        names = [s.name for p in parts for s in p]
        assert sorted(names) == sorted(s.name for s in samples) and len(names) == len(samples)


def test_manifest_digest_tracks_images_and_prompts(bench):
    folder = bench / "creative_video_gen"
    samples, _ = suites.load_samples(folder)
    m1 = suites.manifest("creative", "50s", samples)
    assert m1["num_samples"] == 4 and len(m1["digest"]) == 64
    assert suites.manifest("creative", "50s", samples)["digest"] == m1["digest"]
    (folder / "sample_02" / "prompt.txt").write_text("a different storyline\n")
    samples2, _ = suites.load_samples(folder)
    m2 = suites.manifest("creative", "50s", samples2)
    assert m2["digest"] != m1["digest"]
    assert m2["samples"][0] == m1["samples"][0] and m2["samples"][2] != m1["samples"][2]


def test_load_image_cover_crop(bench):
    x = suites.load_image(bench / "creative_video_gen" / "sample_00" / "image.png", 32, 48)
    assert x.shape == (3, 32, 48) and x.min() >= -1 and x.max() <= 1


def _read(tmp_path, text: str):
    path = tmp_path / "prompt.txt"
    path.write_text(text, encoding="utf-8")
    return suites.read_prompt_file(path)


def test_prompt_files_are_read_as_the_official_reader_reads_them(tmp_path):
    """test_svi.py's load_prompts_from_file: a list from `prompts = [` anywhere in the file (what comes
    before is ignored, the items as they are); else one prompt per stripped line, blank lines and `#`
    lines skipped."""
    # a '#' heading before the list is not a prompt (ours once read the whole file as lines)
    listed = '# storyline: cats\n# made by the engine\nprompts = [\n    "a cat walks",  # the first\n    "the cat sits",\n]\n'
    assert _read(tmp_path, listed) == ("a cat walks", "the cat sits")
    # the official samples' form: a list spread over lines, its first item on the `prompts = [` line
    sample = 'prompts = ["A kitten rests in a hat.",\n"The kitten jumps out.",\n"It chases a toy."]'
    assert _read(tmp_path, sample) == (
        "A kitten rests in a hat.",
        "The kitten jumps out.",
        "It chases a toy.",
    )
    assert _read(tmp_path, 'Title\nprompts = [" a ", ""]\n') == (" a ", "")  # items kept as they are
    assert _read(tmp_path, 'prompts = ["a"]\nprompts = ["b", "c"]\n') == ("b", "c")  # the last assignment
    # line mode: stripped lines; blank and '#' lines (indented too) skipped; a '[...]' line is a prompt
    lines = "# scene list\n a cat walks \n\n   # a note\n[scene 2] the cat sits\r\n"
    assert _read(tmp_path, lines) == ("a cat walks", "[scene 2] the cat sits")


@pytest.mark.parametrize(
    "text, error",
    [
        ('prompts=["a", "b"]', "must start with `prompts = \\[` exactly"),  # the reader would take the line
        ('["a", "b"]', "must start with `prompts = \\[` exactly"),  # a bare list: each line a prompt
        ('[\n"a",\n"b"\n]\n', "must start with `prompts = \\[` exactly"),
        ("prompts = [__import__('os').system('echo no')]", "cannot be read"),  # never evaluated
        ('prompts = ["a"]\nprint("b")\n', "cannot be read"),  # only literal assignments are read
        ("prompts = [1, 2]", "quoted strings only"),
        ("prompts = []", "holds no prompt"),
        ("# only a comment\n\n", "holds no prompt"),
    ],
)
def test_prompt_files_the_official_reader_would_misread_are_errors(tmp_path, text, error):
    with pytest.raises(ValueError, match=error):
        _read(tmp_path, text)
