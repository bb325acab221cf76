"""Asterisk extension patterns: matching, the order pbx.c tries them in, prefixes and examples."""

from __future__ import annotations

import pytest

from attest.pbx.patterns import example, literal_prefix, matches, specificity


@pytest.mark.parametrize(("pattern", "dialled", "expected"), [
    ("_X", "5", True), ("_X", "55", False), ("_X", "a", False),
    ("_Z", "0", False), ("_Z", "1", True),
    ("_N", "1", False), ("_N", "2", True), ("_nxx", "200", True),  # classes are case-insensitive
    ("_[1-3a]X", "10", True), ("_[1-3a]X", "30", True), ("_[1-3a]X", "a9", True), ("_[1-3a]X", "40", False),
    ("_[1-3a]X", "b0", False),
    ("_1-800-NXX", "1800200", True), ("_1-800-NXX", "1-800-200", False),  # '-' is ignored in patterns
    ("_X.", "1", False), ("_X.", "12", True), ("_X.", "1abc", True),  # '.' needs at least one character
    ("_X!", "1", True), ("_X!", "12345", True),  # '!' is zero or more
    ("_**.", "**20", True), ("_**.", "**", False),
    ("_*80XX", "*8012", True), ("_*80XX", "*801", False),
    ("100", "100", True), ("100", "1000", False), ("_100", "100", True),
    ("_[", "[", True),  # an unclosed set is a literal '['
])
def test_matches(pattern: str, dialled: str, expected: bool) -> None:
    assert matches(pattern, dialled) is expected


def test_specificity_order() -> None:
    assert specificity("_2X") < specificity("_X.")
    assert specificity("_NXX") < specificity("_XXX")
    assert specificity("_ZXX") < specificity("_XXX")
    assert specificity("_NXX") < specificity("_ZXX")
    assert specificity("_[12]X") < specificity("_NXX")  # a two-member set is more specific than N
    assert specificity("_X.") < specificity("_X!")  # '!' last
    assert specificity("_2XX") < specificity("_2X.")
    assert specificity("_20X") < specificity("_2NX")
    ordered = sorted(["_X!", "_X.", "_XXX", "_NXX", "_2XX", "_2X.", "_20X"], key=specificity)
    assert ordered == ["_20X", "_2XX", "_2X.", "_NXX", "_XXX", "_X.", "_X!"]


def test_literal_prefix_and_example() -> None:
    assert literal_prefix("_**.") == "**"
    assert literal_prefix("_*80.") == "*80"
    assert literal_prefix("_1-800-NXX") == "1800"
    assert literal_prefix("_X.") == ""
    assert example("_*80XXXX") == "*800000"
    assert example("_2X.") == "200"
    assert example("_NXX") == "200"
    assert example("_[5-7]!") == "5"
    for pattern in ("_*80XXXX", "_2X.", "_NXX", "_[5-7]!", "_1-800-NXX", "_X!"):
        assert matches(pattern, example(pattern)), pattern
