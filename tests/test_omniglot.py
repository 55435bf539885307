"""Omniglot source layer: real-data facts, archive/folder equivalence, every error path, cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch
import pytest
import requests
from PIL import Image, ImageOps

from oneshotbench import omniglot
from oneshotbench.cache import CACHE_ENV
from oneshotbench.errors import DataError
from oneshotbench.omniglot import (
    CANONICAL_FINGERPRINT,
    OMNIGLOT_ALPHABETS,
    OMNIGLOT_ENV,
    SETS,
    CharacterFiles,
    GlyphSet,
    check_layout,
    load_glyphs,
    load_omniglot,
    plan_set,
    resolve_sets,
    synthetic_glyphs,
)

REPO = Path(__file__).resolve().parents[1]
REAL_PATH = Path(os.environ.get(OMNIGLOT_ENV) or REPO.parent / "shared" / "omniglot")
REAL_AVAILABLE = all((REAL_PATH / f"{s}.zip").is_file() or (REAL_PATH / s).is_dir() for s in SETS)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache and no Omniglot from the environment."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    monkeypatch.delenv(OMNIGLOT_ENV, raising=False)
    return cache


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any PNG decode fail the test: proves a start was served from the glyph cache."""

    def fail(data: bytes, name: str) -> np.ndarray:
        raise AssertionError(f"decoded {name} although the glyph cache should have served it")

    monkeypatch.setattr(omniglot.sources, "decode_png", fail)  # where decode_sets looks it up


def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every download fail as without network; returns the URLs that were tried."""
    tried: list[str] = []

    def retrieve(url: str, *args: object, **kwargs: object) -> str:
        tried.append(url)
        raise requests.exceptions.ConnectionError(f"no network for {url}")

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    return tried


# --------------------------------------------------------------------------------------------
# Real Omniglot (decoded once per session).


@dataclass(frozen=True)
class Real:
    glyphs: GlyphSet
    cache: Path
    decode_seconds: float


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Real:
    if not REAL_AVAILABLE:
        message = f"real Omniglot not found at {REAL_PATH} (set {OMNIGLOT_ENV})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cache = tmp_path_factory.mktemp("real-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(cache))
        start = time.perf_counter()
        glyphs = load_omniglot(REAL_PATH, progress=False)
    return Real(glyphs, cache, time.perf_counter() - start)


def test_real_counts_and_structure(real: Real) -> None:
    g = real.glyphs
    assert g.packed.shape == (1623, 20, 105, 14) and g.packed.dtype == np.uint8
    assert g.packed.flags.c_contiguous and not g.packed.flags.writeable
    assert (g.n_background, g.n_background_alphabets, len(g.alphabets)) == (964, 30, 50)
    assert len(g.char_names) == 1623 and g.char_alphabet.dtype == np.int16
    counts = np.bincount(g.char_alphabet, minlength=50)
    expected = {
        **OMNIGLOT_ALPHABETS["images_background"],
        **OMNIGLOT_ALPHABETS["images_evaluation"],
    }
    assert dict(zip(g.alphabets, counts.tolist(), strict=True)) == expected
    assert counts[:30].sum() == 964 and counts[30:].sum() == 659
    assert np.all(np.diff(g.char_alphabet) >= 0)  # alphabet-major
    # every drawing has strokes and background
    ink = g.packed.reshape(1623, 20, -1).any(axis=-1)
    assert ink.all()


def test_real_fingerprint(real: Real) -> None:
    assert real.glyphs.fingerprint == CANONICAL_FINGERPRINT
    assert hashlib.sha256(real.glyphs.packed.tobytes()).hexdigest() == CANONICAL_FINGERPRINT


def test_real_sorted_order_matches_reference_spec(real: Real) -> None:
    g = real.glyphs
    background, evaluation = g.alphabets[:30], g.alphabets[30:]
    assert list(background) == sorted(background) and list(evaluation) == sorted(evaluation)
    assert background[0] == "Alphabet_of_the_Magi" and background[-1] == "Tifinagh"
    assert evaluation[0] == "Angelic" and evaluation[9] == "Keble"
    assert evaluation[10] == "Malayalam" and evaluation[-1] == "ULOG"
    counts = np.bincount(g.char_alphabet, minlength=50)
    assert counts[30:40].sum() == 307 and counts[40:].sum() == 352  # val / test one-shot pools
    assert g.char_names[0] == "Alphabet_of_the_Magi/character01"
    assert g.char_names[19] == "Alphabet_of_the_Magi/character20"
    assert g.char_names[964] == "Angelic/character01" and g.char_names[-1] == "ULOG/character26"
    latin = [name for name in g.char_names if name.startswith("Latin/")]
    assert latin == sorted(latin) and len(latin) == 26


def original_pipeline(data: bytes) -> np.ndarray:
    """get_omniglot.ipynb: convert('L'), invert, convert('1'); stroke = 1."""
    image = ImageOps.invert(Image.open(io.BytesIO(data)).convert("L")).convert("1")
    return np.asarray(image)


@pytest.mark.parametrize(("char", "drawer"), [(0, 0), (0, 19), (500, 7), (964, 0), (1622, 19)])
def test_real_bitmap_equals_original_decode(real: Real, char: int, drawer: int) -> None:
    sources = resolve_sets(REAL_PATH)
    source = sources[0] if char < real.glyphs.n_background else sources[1]
    folder = real.glyphs.char_names[char] + "/"
    files = sorted(m for m in source.members() if m.startswith(folder))
    assert len(files) == 20 and files[drawer].endswith(f"_{drawer + 1:02d}.png")
    expected = original_pipeline(source.read(files[drawer]))
    bitmap = real.glyphs.bitmap(char, drawer)
    assert bitmap.dtype == bool and bitmap.shape == (105, 105)
    np.testing.assert_array_equal(bitmap, expected)
    if (char, drawer) == (0, 0):
        assert files[0] == "Alphabet_of_the_Magi/character01/0709_01.png"


def test_real_second_start_is_a_fast_cache_hit(real: Real, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(real.cache))
    no_decoding(monkeypatch)
    start = time.perf_counter()
    glyphs = load_omniglot(REAL_PATH, progress=False)
    seconds = time.perf_counter() - start
    assert glyphs.fingerprint == CANONICAL_FINGERPRINT
    assert np.array_equal(glyphs.packed, real.glyphs.packed)
    assert glyphs.char_names == real.glyphs.char_names
    assert seconds < 2.0, (
        f"cached start took {seconds:.2f}s (first decode {real.decode_seconds:.1f}s)"
    )


def test_real_start_without_source_uses_verified_cache(
    real: Real, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(real.cache))
    no_decoding(monkeypatch)
    tried = offline(monkeypatch)
    assert load_omniglot(progress=False).fingerprint == CANONICAL_FINGERPRINT
    assert tried == []


def test_real_source_via_environment(real: Real, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(real.cache))
    monkeypatch.setenv(OMNIGLOT_ENV, str(REAL_PATH))
    no_decoding(monkeypatch)
    assert load_omniglot(progress=False).fingerprint == CANONICAL_FINGERPRINT


# --------------------------------------------------------------------------------------------
# Synthetic sources written as Omniglot archives or folders.


def png_bytes(stroke: np.ndarray, mode: str = "1") -> bytes:
    """A PNG as in Omniglot: black strokes on white."""
    image = Image.fromarray(~stroke).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def source_files(glyphs: GlyphSet) -> dict[str, dict[str, bytes]]:
    """set -> relative path -> PNG bytes, in Omniglot's naming (<id>_<drawer>.png)."""
    files: dict[str, dict[str, bytes]] = {name: {} for name in SETS}
    for char, name in enumerate(glyphs.char_names):
        set_files = files[SETS[0] if char < glyphs.n_background else SETS[1]]
        for drawer in range(20):
            rel = f"{name}/{char + 1:04d}_{drawer + 1:02d}.png"
            set_files[rel] = png_bytes(glyphs.bitmap(char, drawer))
    return files


def write_source(files: dict[str, dict[str, bytes]], folder: Path, kind: str = "zip") -> Path:
    """Write sets as ``<set>.zip`` (entries under ``<set>/``) or extracted ``<set>/`` folders."""
    folder.mkdir(parents=True, exist_ok=True)
    for set_name, members in files.items():
        if kind == "zip":
            with zipfile.ZipFile(folder / f"{set_name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
                for rel, data in members.items():
                    archive.writestr(f"{set_name}/{rel}", data)
        else:
            for rel, data in members.items():
                (folder / set_name / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / set_name / rel).write_bytes(data)
    return folder


SYNTHETIC = synthetic_glyphs()


def load_any(path: Path) -> GlyphSet:
    """Load a synthetic source: no Omniglot layout and fingerprint expected."""
    return load_glyphs(path, layout=None, expected_fingerprint=None)


def assert_same_glyphs(got: GlyphSet, want: GlyphSet) -> None:
    np.testing.assert_array_equal(got.packed, want.packed)
    assert got.fingerprint == want.fingerprint
    assert (got.alphabets, got.char_names) == (want.alphabets, want.char_names)
    np.testing.assert_array_equal(got.char_alphabet, want.char_alphabet)
    assert (got.n_background, got.n_background_alphabets) == (
        want.n_background,
        want.n_background_alphabets,
    )


@pytest.fixture
def files() -> dict[str, dict[str, bytes]]:
    return source_files(SYNTHETIC)


def test_zip_and_folder_give_the_same_pixels(tmp_path: Path, files: dict) -> None:
    from_zip = load_any(write_source(files, tmp_path / "zips", "zip"))
    from_dir = load_any(write_source(files, tmp_path / "dirs", "dir"))
    assert_same_glyphs(from_zip, SYNTHETIC)
    assert_same_glyphs(from_dir, SYNTHETIC)


def test_path_may_name_a_zip_a_set_folder_or_a_mixed_folder(tmp_path: Path, files: dict) -> None:
    zips = write_source(files, tmp_path / "zips", "zip")
    dirs = write_source(files, tmp_path / "dirs", "dir")
    mixed = tmp_path / "mixed"
    write_source({SETS[0]: files[SETS[0]]}, mixed, "zip")
    write_source({SETS[1]: files[SETS[1]]}, mixed, "dir")
    for path in (zips / "images_evaluation.zip", dirs / "images_background", mixed):
        assert load_any(path).fingerprint == SYNTHETIC.fingerprint


def test_black_and_white_greyscale_png_is_accepted(tmp_path: Path, files: dict) -> None:
    rel = next(iter(files[SETS[1]]))
    files[SETS[1]][rel] = png_bytes(SYNTHETIC.bitmap(SYNTHETIC.n_background, 0), mode="L")
    assert_same_glyphs(load_any(write_source(files, tmp_path)), SYNTHETIC)


def test_second_start_is_served_from_the_cache(
    tmp_path: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_source(files, tmp_path / "src")
    load_any(source)
    no_decoding(monkeypatch)
    assert_same_glyphs(load_any(source), SYNTHETIC)


def test_read_only_source_folder_is_never_written(
    tmp_path: Path, files: dict, isolated: Path
) -> None:
    source = write_source(files, tmp_path / "src", "dir")
    paths = sorted(source.rglob("*"))
    for path in [*paths, source]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert_same_glyphs(load_any(source), SYNTHETIC)
        assert_same_glyphs(load_any(source), SYNTHETIC)
        assert sorted(source.rglob("*")) == paths
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "src"]
        assert list((isolated / "glyphs").glob("v1-*.npy"))
    finally:
        for path in [source, *paths]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.mark.parametrize(
    "damage", ["truncate npy", "garbage npy", "garbage json", "renamed alphabet", "bad record"]
)
def test_corrupt_cache_is_rebuilt_with_a_warning(
    tmp_path: Path, files: dict, isolated: Path, damage: str
) -> None:
    source = write_source(files, tmp_path / "src")
    load_any(source)
    glyph_dir = isolated / "glyphs"
    (npy,) = glyph_dir.glob("v1-*.npy")
    (sidecar,) = glyph_dir.glob("v1-*.json")
    (record,) = (glyph_dir / "sources").glob("*.json")
    (stamped,) = (glyph_dir / "stamps").glob("*.json")  # consulted first: damaged alike
    good = npy.read_bytes()
    if damage == "truncate npy":
        npy.write_bytes(good[: len(good) // 2])
    elif damage == "garbage npy":  # right size and header, wrong pixels
        middle = len(good) // 2
        npy.write_bytes(good[:middle] + bytes(255 - b for b in good[middle:]))
    elif damage == "garbage json":
        sidecar.write_text("{not json")
    elif damage == "renamed alphabet":  # still valid JSON, but not what was written
        sidecar.write_text(sidecar.read_text().replace("Synthetic_evaluation_01", "Latin"))
    else:
        record.write_text("[]")
        stamped.write_text("[]")
    with pytest.warns(UserWarning, match="rebuilding the glyph cache"):
        assert_same_glyphs(load_any(source), SYNTHETIC)
    assert npy.read_bytes() == good
    assert_same_glyphs(load_any(source), SYNTHETIC)  # healthy again: no second warning


class HashSpy:
    """Counts (or forbids) the full hashes a start computes: zips' keys and the cache's pixels."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, forbid: bool = False) -> None:
        self.keys = self.pixels = 0
        key, fingerprint = omniglot.ZipSet.key, omniglot.content_fingerprint

        def spy_key(source) -> str:
            assert not forbid, "a zip was re-hashed although its stamp is unchanged"
            self.keys += 1
            return key(source)

        def spy_fingerprint(packed) -> str:
            assert not forbid, "the glyph cache was re-hashed although its stamp is unchanged"
            self.pixels += 1
            return fingerprint(packed)

        monkeypatch.setattr(omniglot.ZipSet, "key", spy_key)
        monkeypatch.setattr(omniglot.glyphset, "content_fingerprint", spy_fingerprint)


def test_unchanged_files_are_not_rehashed_and_the_cache_is_mapped(
    tmp_path: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_source(files, tmp_path / "src")
    load_any(source)  # decodes, records, and stamps
    with monkeypatch.context() as patch:
        no_decoding(patch)
        HashSpy(patch, forbid=True)
        glyphs = load_any(source)
    assert_same_glyphs(glyphs, SYNTHETIC)
    assert isinstance(glyphs.packed.base, np.memmap) or isinstance(glyphs.packed, np.memmap)
    assert not glyphs.packed.flags.writeable


def test_touched_but_identical_files_are_rehashed_once_and_accepted(
    tmp_path: Path, files: dict, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_source(files, tmp_path / "src")
    load_any(source)
    (npy,) = (isolated / "glyphs").glob("v1-*.npy")
    later = time.time_ns() + 5_000_000_000
    for path in [*source.glob("*.zip"), npy]:
        os.utime(path, ns=(later, later))
    no_decoding(monkeypatch)
    with monkeypatch.context() as patch:
        spy = HashSpy(patch)
        assert_same_glyphs(load_any(source), SYNTHETIC)
    assert spy.keys == len(SETS) and spy.pixels == 1  # re-verified by content
    with monkeypatch.context() as patch:
        HashSpy(patch, forbid=True)  # and the new stamps recorded
        assert_same_glyphs(load_any(source), SYNTHETIC)


def test_modified_zip_is_detected_by_its_stamp(
    tmp_path: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_source(files, tmp_path / "src")
    load_glyphs(source, layout=None, expected_fingerprint=SYNTHETIC.fingerprint)
    changed = {name: dict(members) for name, members in files.items()}
    member = sorted(changed[SETS[1]])[0]
    changed[SETS[1]][member] = png_bytes(np.eye(omniglot.SIZE, dtype=bool))  # one drawing redrawn
    write_source(changed, source)
    with pytest.raises(DataError, match="differ from the real Omniglot"):
        load_glyphs(source, layout=None, expected_fingerprint=SYNTHETIC.fingerprint)


def test_cache_damaged_with_its_stamp_kept_is_caught_by_a_rehash(
    tmp_path: Path, files: dict, isolated: Path
) -> None:
    """A change that restores size and time evades the stamp; ``data verify`` re-hashes."""
    source = write_source(files, tmp_path / "src")
    load_any(source)
    (npy,) = (isolated / "glyphs").glob("v1-*.npy")
    good, before = npy.read_bytes(), npy.stat()
    with npy.open("r+b") as handle:  # same inode, same size
        handle.seek(len(good) - 1)
        handle.write(bytes([good[-1] ^ 0xFF]))
    os.utime(npy, ns=(before.st_atime_ns, before.st_mtime_ns))
    load_any(source)  # trusted by its stamp: the documented limit of the start-up check
    with pytest.warns(UserWarning, match="rebuilding the glyph cache"):
        glyphs = load_glyphs(source, layout=None, expected_fingerprint=None, rehash=True)
    assert_same_glyphs(glyphs, SYNTHETIC)
    assert npy.read_bytes() == good


def test_fingerprint_mismatch_names_both_fingerprints(
    tmp_path: Path, files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_source(files, tmp_path / "src")
    with pytest.raises(DataError, match="differ from the real Omniglot") as err:
        load_glyphs(source, layout=None)
    assert SYNTHETIC.fingerprint in str(err.value) and CANONICAL_FINGERPRINT in str(err.value)
    load_any(source)  # recorded now: the next mismatch is reported without decoding
    no_decoding(monkeypatch)
    with pytest.raises(DataError, match=CANONICAL_FINGERPRINT):
        load_glyphs(source, layout=None)


def test_synthetic_source_is_not_omniglot(tmp_path: Path, files: dict) -> None:
    source = write_source(files, tmp_path / "src")
    with pytest.raises(DataError, match=r"missing 30 alphabet\(s\): Alphabet_of_the_Magi, "):
        load_omniglot(source, progress=False)


def test_missing_alphabet_is_named(tmp_path: Path, files: dict) -> None:
    layout = {s: {} for s in SETS}
    for name in SYNTHETIC.char_names:
        alphabet = name.split("/")[0]
        key = SETS[0] if "background" in alphabet else SETS[1]
        layout[key][alphabet] = layout[key].get(alphabet, 0) + 1
    layout[SETS[1]]["Tengwar"] = 25
    source = write_source(files, tmp_path / "src")
    with pytest.raises(
        DataError, match=r"images_evaluation.zip .*missing 1 alphabet\(s\): Tengwar"
    ):
        load_glyphs(source, layout=layout, expected_fingerprint=None)


def test_check_layout_names_missing_and_incomplete_alphabets() -> None:
    expected = OMNIGLOT_ALPHABETS["images_evaluation"]
    plan = [
        CharacterFiles(alphabet, f"character{k:02d}", ())
        for alphabet, count in expected.items()
        if alphabet != "ULOG"
        for k in range(count - (alphabet == "Keble"))
    ]
    with pytest.raises(DataError) as err:
        check_layout("eval.zip", plan, expected)
    message = str(err.value)
    assert "missing 1 alphabet(s): ULOG" in message
    assert "Keble has 25 characters, expected 26" in message
    assert "20 alphabets, 659 characters" in message
    matching = {a: n for a, n in expected.items() if a != "ULOG"} | {"Keble": 25}
    check_layout("eval.zip", plan, matching)  # a plan that matches raises nothing


@pytest.mark.parametrize("how", ["truncated", "not a zip", "empty"])
def test_broken_zip_is_named(tmp_path: Path, files: dict, how: str) -> None:
    source = write_source(files, tmp_path / "src")
    archive = source / "images_evaluation.zip"
    data = archive.read_bytes()
    archive.write_bytes(
        {"truncated": data[: len(data) // 2], "not a zip": b"<html>404</html>"}.get(how, b"")
    )
    with pytest.raises(DataError, match=r"images_evaluation\.zip is not a valid zip archive"):
        load_any(source)


def test_corrupt_zip_member_is_named(tmp_path: Path, files: dict) -> None:
    source = write_source(files, tmp_path / "src")
    archive = source / "images_background.zip"
    data = bytearray(archive.read_bytes())
    info = zipfile.ZipFile(archive).infolist()[3]
    start = info.header_offset + 30 + len(info.filename.encode())
    data[start + 5 : start + 25] = bytes(20)
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"images_background\.zip is corrupt .*{info.filename}"):
        load_any(source)


def test_wrong_image_size_is_named(tmp_path: Path, files: dict) -> None:
    rel = sorted(files[SETS[0]])[7]
    files[SETS[0]][rel] = png_bytes(np.zeros((105, 104), bool))
    with pytest.raises(DataError, match=rf"{rel} is 104x105 pixels; Omniglot images are 105x105"):
        load_any(write_source(files, tmp_path, "dir"))


def test_grey_image_is_refused(tmp_path: Path, files: dict) -> None:
    rel = sorted(files[SETS[1]])[0]
    image = Image.fromarray(np.full((105, 105), 128, np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    files[SETS[1]][rel] = buffer.getvalue()
    with pytest.raises(DataError, match=rf"{rel} has grey levels"):
        load_any(write_source(files, tmp_path))


def test_unreadable_png_is_named(tmp_path: Path, files: dict) -> None:
    rel = sorted(files[SETS[0]])[0]
    files[SETS[0]][rel] = files[SETS[0]][rel][:40]
    with pytest.raises(DataError, match=rf"{rel} is not a readable PNG image"):
        load_any(write_source(files, tmp_path))


def test_missing_drawer_is_named(tmp_path: Path, files: dict) -> None:
    rel = sorted(files[SETS[0]])[6]
    assert rel.endswith("_07.png")
    del files[SETS[0]][rel]
    character = rel.rsplit("/", 1)[0]
    with pytest.raises(DataError, match=rf"{character} has missing drawer\(s\) 07 \(expected"):
        load_any(write_source(files, tmp_path))


@pytest.mark.parametrize("kind", ["zip", "dir"])
def test_missing_set_is_named(tmp_path: Path, files: dict, kind: str) -> None:
    source = write_source({SETS[0]: files[SETS[0]]}, tmp_path / "src", kind)
    with pytest.raises(DataError, match="neither images_evaluation.zip nor an extracted"):
        load_any(source)


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"Omniglot path {tmp_path / 'nowhere'} does not exist"):
        load_omniglot(tmp_path / "nowhere", progress=False)


def test_environment_path_errors_say_where_the_path_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OMNIGLOT_ENV, str(tmp_path))
    tried = offline(monkeypatch)
    with pytest.raises(DataError, match=rf"neither images_background.zip .*\${OMNIGLOT_ENV}"):
        load_omniglot(progress=False)
    assert tried == []


# --------------------------------------------------------------------------------------------
# Download and offline use.


def test_offline_and_absent_gives_one_clear_message(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = offline(monkeypatch)
    with pytest.raises(DataError) as err:
        load_omniglot(progress=False)
    message = str(err.value)
    assert str(isolated / "omniglot") in message
    assert "--omniglot PATH" in message and OMNIGLOT_ENV in message
    assert "ConnectionError" in message and "no network" not in message
    assert tried == [
        "https://github.com/brendenlake/omniglot/raw/master/python/images_background.zip"
    ]


def test_download_disabled_and_absent(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tried = offline(monkeypatch)
    with pytest.raises(DataError, match=f"downloading is disabled.*{isolated / 'omniglot'}"):
        load_omniglot(download=False, progress=False)
    assert tried == []


def test_fetch_downloads_only_missing_zips_with_checksums(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def retrieve(url: str, known_hash: str, fname: str, path: Path, downloader: object) -> str:
        calls.append((url, known_hash, fname, Path(path)))
        (Path(path) / fname).write_bytes(b"zip")
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    folder = isolated / "omniglot"
    folder.mkdir(parents=True)
    (folder / "images_background.zip").write_bytes(b"repackaged copy is kept")
    assert omniglot.fetch_release(progress=False) == folder
    assert calls == [
        (
            "https://github.com/brendenlake/omniglot/raw/master/python/images_evaluation.zip",
            "md5:6b91aef0f799c5bb55b94e3f2daec811",
            "images_evaluation.zip",
            folder,
        )
    ]
    assert (folder / "images_background.zip").read_bytes() == b"repackaged copy is kept"


# --------------------------------------------------------------------------------------------
# Pure parts.


def test_plan_set_sorts_and_ignores_archive_debris() -> None:
    files = [
        f"{alphabet}/{character}/{index}_{drawer:02d}.png"
        for alphabet, character, index in [
            ("b", "character02", 4),
            ("a", "character10", 2),
            ("b", "character01", 3),
        ]
        for drawer in range(20, 0, -1)
    ]
    debris = [
        "__MACOSX/a/character10/._0002_01.png",
        "a/character10/._0002_01.png",
        ".DS_Store",
        "a/README.txt",
    ]
    plan = plan_set("set", files + debris)
    assert [(c.alphabet, c.character) for c in plan] == [
        ("a", "character10"),
        ("b", "character01"),
        ("b", "character02"),
    ]
    assert plan[1].files == tuple(f"b/character01/3_{d:02d}.png" for d in range(1, 21))
    with pytest.raises(DataError, match="a/stray.png is not at <Alphabet>/<character>/<file>.png"):
        plan_set("set", [*files, "a/stray.png"])
    with pytest.raises(DataError, match=r"are both drawer 05"):
        plan_set("set", [*files, "a/character10/9_05.png"])
    with pytest.raises(DataError, match=r"unexpected drawer\(s\) 21"):
        plan_set("set", [*files, "a/character10/2_21.png"])
    with pytest.raises(DataError, match="holds no"):
        plan_set("set", debris)


def test_synthetic_glyphs_structure_and_determinism() -> None:
    g = synthetic_glyphs(
        n_background_alphabets=2, n_evaluation_alphabets=3, chars_per_alphabet=4, seed=7
    )
    assert g.packed.shape == (20, 20, 105, 14) and g.packed.dtype == np.uint8
    assert (g.n_background, g.n_background_alphabets) == (8, 2)
    assert list(g.alphabets[:2]) == sorted(g.alphabets[:2]) and list(g.alphabets[2:]) == sorted(
        g.alphabets[2:]
    )
    assert g.char_alphabet.tolist() == [a for a in range(5) for _ in range(4)]
    assert g.char_names[5] == f"{g.alphabets[1]}/character02"
    assert g.fingerprint == hashlib.sha256(g.packed.tobytes()).hexdigest()
    ink = np.array([[g.bitmap(c, d).mean() for d in range(20)] for c in range(20)])
    assert (ink > 0.005).all() and (ink < 0.3).all()  # stroke-like, neither empty nor filled
    same = synthetic_glyphs(
        n_background_alphabets=2, n_evaluation_alphabets=3, chars_per_alphabet=4, seed=7
    )
    assert same.fingerprint == g.fingerprint
    other = synthetic_glyphs(
        n_background_alphabets=2, n_evaluation_alphabets=3, chars_per_alphabet=4, seed=8
    )
    assert other.fingerprint != g.fingerprint
    # drawers of one character are variants of one shape, not unrelated glyphs
    a, b, c = g.bitmap(0, 0), g.bitmap(0, 1), g.bitmap(1, 0)
    assert (a & b).sum() > (a & c).sum()


def test_glyphset_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        omniglot.make_glyphset(
            np.zeros((2, 20, 105, 13), np.uint8), ["a"], [0, 0], ["a/1", "a/2"], 1, 1
        )
    with pytest.raises(ValueError, match="one entry per character"):
        omniglot.make_glyphset(
            np.zeros((2, 20, 105, 14), np.uint8), ["a"], [0], ["a/1", "a/2"], 1, 1
        )


def test_cache_sidecar_describes_the_glyphs(tmp_path: Path, files: dict, isolated: Path) -> None:
    load_any(write_source(files, tmp_path / "src"))
    (sidecar,) = (isolated / "glyphs").glob("v1-*.json")
    meta = json.loads(sidecar.read_text())
    assert meta["format"] == omniglot.FORMAT_VERSION
    assert meta["fingerprint"] == SYNTHETIC.fingerprint
    assert meta["structure"]["alphabets"] == list(SYNTHETIC.alphabets)
    assert meta["structure"]["n_background"] == SYNTHETIC.n_background
