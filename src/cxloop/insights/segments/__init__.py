"""Segments: the rule language marketers build customer groups with, and its compiler to one SQL
query per rule (``rules``)."""

from cxloop.insights.segments.rules import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_SEGMENT_CHAIN,
    Rule,
    check_segment_references,
    compile_rule,
    count_matching,
    describe,
    parse_rule,
    sample_matching,
)

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_SEGMENT_CHAIN",
    "Rule",
    "check_segment_references",
    "compile_rule",
    "count_matching",
    "describe",
    "parse_rule",
    "sample_matching",
]
