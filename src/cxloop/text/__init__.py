"""Korean/English text analytics: language, normalisation, tokens, sentiment, categories, aspects
and keywords of customer texts, offline.

The library entry points are :func:`cxloop.text.pipeline.analyze` and
:func:`cxloop.text.pipeline.analyze_many`; other domains reach them through the ``text`` service.
"""

from cxloop.text.pipeline import Analysis, Analyzer, Aspect, analyze, analyze_many

__all__ = ["Analysis", "Analyzer", "Aspect", "analyze", "analyze_many"]
