"""Short pauses of Python's garbage collector in the long-running processes (``cxloop serve``,
``cxloop worker``).

A loaded cxloop holds some 450,000 objects the collector tracks, nearly all of them for good:
the functions, classes, models and tables of the modules it imported. Left as they are, every
full collection walks them all — about 0.2 s on this kind of machine, every few seconds under
load, with the interpreter lock held — and finds almost nothing to free; every request of the
process waits behind it (it was the slowest answer of a webhook, a tenth of a second to a
second). ``settle`` moves what is alive once the process has started out of the collector's
sight (``gc.freeze``), so a collection walks only what was made since.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect once, then leave everything still alive out of later collections (it is never
    freed, which is what a module, a model or a mapped class is for the life of a process);
    how many objects were set aside."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%d objects set aside from garbage collection", frozen)
    return frozen
