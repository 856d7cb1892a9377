"""ITN grammars: per-category cases, round trips over generated expressions, the disk cache."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pynini
import pytest

from asr.errors import GrammarError
from wfst.itn import CATEGORIES, GrammarSet
from wfst.itn import cardinal as cardinal_module
from wfst.itn.registry import SHIPPED_DIR


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("itn_cache")


@pytest.fixture(scope="module")
def grammars(cache_dir: Path) -> GrammarSet:
    return GrammarSet.load(use_shipped=False, cache_dir=cache_dir)


# (category, spoken, written); written None means the grammar must reject the span.
CASES: list[tuple[str, str, str | None]] = [
    ("cardinal", "zero", "0"),
    ("cardinal", "one", "1"),
    ("cardinal", "twenty four", "24"),
    ("cardinal", "a hundred", "100"),
    ("cardinal", "one hundred and five", "105"),
    ("cardinal", "two thousand and twenty four", "2024"),
    ("cardinal", "thirteen hundred", "1300"),
    ("cardinal", "nineteen ninety nine", "1999"),
    ("cardinal", "twenty oh five", "2005"),
    ("cardinal", "fifteen thousand", "15,000"),
    ("cardinal", "nine thousand four hundred seventy five", "9475"),
    ("cardinal", "one million two hundred thousand and five", "1,200,005"),
    ("cardinal", "three billion", "3,000,000,000"),
    ("cardinal", "hello", None),
    ("cardinal", "one one", None),
    ("cardinal", "thousand", None),
    ("cardinal", "one thousand a hundred", None),
    ("cardinal", "twenty thirty forty", None),
    ("ordinal", "first", "1st"),
    ("ordinal", "second", "2nd"),
    ("ordinal", "third", "3rd"),
    ("ordinal", "eleventh", "11th"),
    ("ordinal", "twelfth", "12th"),
    ("ordinal", "twenty first", "21st"),
    ("ordinal", "twenty third", "23rd"),
    ("ordinal", "one hundred and first", "101st"),
    ("ordinal", "one hundred twelfth", "112th"),
    ("ordinal", "one thousandth", "1000th"),
    ("ordinal", "one", None),
    ("ordinal", "firstly", None),
    ("whitelist", "doctor", "Dr."),
    ("whitelist", "mister", "Mr."),
    ("whitelist", "missus", "Mrs."),
    ("whitelist", "saint", "St."),
    ("whitelist", "mount", "Mt."),
    ("whitelist", "reverend", "Rev."),
    ("whitelist", "junior", "Jr."),
    ("whitelist", "et cetera", "etc."),
    ("whitelist", "doctors", None),
    ("whitelist", "hello", None),
]


@pytest.mark.parametrize("category,spoken,written", CASES)
def test_normalize_cases(grammars: GrammarSet, category: str, spoken: str, written: str | None) -> None:
    assert grammars.normalize(category, spoken) == written


def test_every_category_has_cases() -> None:
    counts = {c: sum(1 for cat, _, _ in CASES if cat == c) for c in CATEGORIES}
    assert all(n >= 8 for n in counts.values()), counts


def test_verbalize_variants(grammars: GrammarSet) -> None:
    variants = grammars.verbalize_all("cardinal", "2024", limit=10)
    assert variants[0] == "two thousand twenty four"
    assert {"two thousand and twenty four", "twenty twenty four"} <= set(variants)
    assert len(variants) == len(set(variants))
    assert grammars.verbalize("cardinal", "15,000") == "fifteen thousand"
    assert grammars.verbalize("cardinal", "15000") is None
    assert grammars.verbalize("ordinal", "21st") == "twenty first"
    assert grammars.verbalize("ordinal", "21th") is None


def _random_cardinal(rng: random.Random) -> int:
    digits = rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 10, 12])
    return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)


def _written_cardinal(n: int) -> str:
    return str(n) if n < 10000 else f"{n:,}"


def _round_trip(grammars: GrammarSet, category: str, written: str) -> None:
    variants = grammars.verbalize_all(category, written, limit=5)
    assert variants, f"{category} verbalizer rejects {written!r}"
    for spoken in variants:
        assert grammars.normalize(category, spoken) == written, (category, written, spoken)


def test_round_trip_cardinal_and_ordinal(grammars: GrammarSet) -> None:
    rng = random.Random(0)
    for _ in range(150):
        n = _random_cardinal(rng)
        _round_trip(grammars, "cardinal", _written_cardinal(n))
        if n > 0:
            suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            _round_trip(grammars, "ordinal", _written_cardinal(n) + suffix)


def test_cardinal_brute_force_small_numbers(grammars: GrammarSet) -> None:
    """Every number below 2000 comes back from its canonical spoken form."""
    for n in range(0, 2000):
        spoken = grammars.verbalize("cardinal", str(n))
        assert spoken is not None and grammars.normalize("cardinal", spoken) == str(n)


def test_cache_is_reused_and_fast(cache_dir: Path, grammars: GrammarSet) -> None:
    files = sorted(p.name for p in cache_dir.glob("*.fst"))
    assert {f.split("-")[0] for f in files} == set(CATEGORIES)
    start = time.perf_counter()
    again = GrammarSet.load(use_shipped=False, cache_dir=cache_dir)
    elapsed = time.perf_counter() - start
    assert again.build_seconds == 0.0  # nothing compiled
    assert sorted(p.name for p in cache_dir.glob("*.fst")) == files
    assert elapsed < 0.5
    for c in CATEGORIES:
        assert again.normalizer(c).write_to_string() == grammars.normalizer(c).write_to_string()


def test_whitelist_file_changes_fingerprint_and_rebuilds(tmp_path: Path, cache_dir: Path, grammars: GrammarSet) -> None:
    wl = tmp_path / "whitelist.tsv"
    wl.write_text("# comment\ndoctor\tDoc.\nnasa\tNASA\n", encoding="utf-8")
    user = GrammarSet.load(use_shipped=False, cache_dir=cache_dir, whitelist_file=wl)
    assert user.fingerprints["whitelist"] != grammars.fingerprints["whitelist"]
    assert user.build_seconds > 0
    assert user.normalize("whitelist", "doctor") == "Doc."
    assert user.normalize("whitelist", "nasa") == "NASA"
    assert user.normalize("whitelist", "mister") == "Mr."
    for c in CATEGORIES:
        if c != "whitelist":
            assert user.fingerprints[c] == grammars.fingerprints[c]
    wl.write_text("doctor\tDoctor\n", encoding="utf-8")
    edited = GrammarSet.load(use_shipped=False, cache_dir=cache_dir, whitelist_file=wl)
    assert edited.fingerprints["whitelist"] not in (user.fingerprints["whitelist"], grammars.fingerprints["whitelist"])
    assert edited.normalize("whitelist", "doctor") == "Doctor"
    assert edited.normalize("whitelist", "nasa") is None


def test_bad_whitelist_file_names_line(tmp_path: Path) -> None:
    wl = tmp_path / "bad.tsv"
    wl.write_text("doctor\tDr.\nno tab here\n", encoding="utf-8")
    with pytest.raises(GrammarError, match=r"bad.tsv, line 2"):
        GrammarSet.load(use_shipped=False, cache_dir=tmp_path / "c", whitelist_file=wl)


def _shouting_cardinal() -> pynini.Fst:
    return pynini.cross("forty two", "XLII")


def test_override_one_category_leaves_others(cache_dir: Path, grammars: GrammarSet) -> None:
    gs = GrammarSet.load(use_shipped=False, cache_dir=cache_dir, overrides={"cardinal": _shouting_cardinal})
    assert gs.normalize("cardinal", "forty two") == "XLII"
    assert gs.normalize("cardinal", "forty three") is None
    assert gs.verbalize("cardinal", "XLII") == "forty two"
    for c in CATEGORIES:
        if c != "cardinal":
            assert gs.fingerprints[c] == grammars.fingerprints[c]
            assert gs.normalizer(c).write_to_string() == grammars.normalizer(c).write_to_string()
    added = GrammarSet.load(use_shipped=False, cache_dir=cache_dir, overrides={"roman": _shouting_cardinal, "cardinal": cardinal_module})
    assert added.categories[-1] == "roman"
    assert added.normalize("roman", "forty two") == "XLII"
    assert added.normalize("cardinal", "forty two") == "42"


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path, cache_dir: Path, grammars: GrammarSet) -> None:
    local = tmp_path / "cache"
    local.mkdir()
    for p in cache_dir.glob("*.fst"):
        (local / p.name).write_bytes(p.read_bytes())
    fp = grammars.fingerprints
    victim = next(local.glob(f"cardinal-normalizer-{fp['cardinal'][:16]}-*.fst"))
    intact_victim = victim.read_bytes()
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    other = next(local.glob(f"ordinal-normalizer-{fp['ordinal'][:16]}-*.fst"))
    intact = other.read_bytes()
    other.write_bytes(b"\0" * len(intact))  # garbage of the right size
    gs = GrammarSet.load(use_shipped=False, cache_dir=local)
    assert gs.build_seconds > 0
    assert gs.normalize("cardinal", "two thousand and five") == "2005"
    assert gs.normalize("ordinal", "second") == "2nd"
    # The rebuilt files are deterministic: same names, written whole again.
    assert victim.read_bytes() == intact_victim
    assert other.read_bytes() == intact
    assert len(list(local.glob(f"cardinal-normalizer-{fp['cardinal'][:16]}-*.fst"))) == 1
    assert GrammarSet.load(use_shipped=False, cache_dir=local).build_seconds == 0.0


def test_unknown_category(grammars: GrammarSet) -> None:
    with pytest.raises(KeyError, match="unknown ITN category"):
        grammars.normalize("nonsense", "one")


def test_shipped_grammars_match_sources() -> None:
    """The compiled normalizers shipped as package data are current (run ``python -m wfst.itn --ship``)."""
    shipped = sorted(SHIPPED_DIR.glob("*-normalizer-*.fst"))
    if not shipped:
        pytest.skip("no shipped grammars")
    fresh = GrammarSet.load(cache_dir=SHIPPED_DIR / "__does_not_exist__")
    assert fresh.build_seconds == 0.0, "shipped grammars are stale: run python -m wfst.itn --ship"
