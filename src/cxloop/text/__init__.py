"""Korean/English text analytics: language, normalisation, tokens, sentiment, categories, aspects
and keywords of customer texts, offline.

The library entry points are :func:`cxloop.text.pipeline.analyze` and
:func:`cxloop.text.pipeline.analyze_many`; other domains hand their texts to the stored analyses
(:mod:`cxloop.text.store.service`). The NLP modules stay at this level; the workspace taxonomy,
the model registry, stored analyses, training and analytics each have a sub-package.
"""

from cxloop.text.pipeline import Analysis, Analyzer, Aspect, analyze, analyze_many

__all__ = ["Analysis", "Analyzer", "Aspect", "analyze", "analyze_many"]
