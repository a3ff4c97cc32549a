"""Segments: the rule language marketers build customer groups with (``language``), its
compiler to one SQL query per rule (``compiler``, over the portable JSON SQL of ``json_sql``),
its description in words (``wording``), and the saved segments and their members (``service``)."""

from cxloop.insights.segments.compiler import compile_rule, count_matching, sample_matching
from cxloop.insights.segments.language import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_SEGMENT_CHAIN,
    Rule,
    check_segment_references,
    parse_rule,
)
from cxloop.insights.segments.wording import describe, describe_properties

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_SEGMENT_CHAIN",
    "Rule",
    "check_segment_references",
    "compile_rule",
    "count_matching",
    "describe",
    "describe_properties",
    "parse_rule",
    "sample_matching",
]
