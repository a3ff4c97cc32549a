"""The CDNOW sample of Fader & Hardie (tests/data/insights/README.md) and its published fits."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from cxloop.insights import clv

CDNOW = Path(__file__).parent.parent / "data" / "insights" / "CDNOW_sample.txt"
CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"

# Fader, Hardie & Lee (2005), and Fader & Hardie's Gamma–Gamma note (2013).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LOG_LIKELIHOOD = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}

CDNOW_PARAMS = clv.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)


@cache
def cdnow_transactions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.loadtxt(CDNOW, dtype=str)
    customer = rows[:, 1].astype(np.int64)
    day = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]], dtype="datetime64[D]")
    return customer, day, rows[:, 4].astype(np.float64)
