"""Tail probabilities for counts: Poisson, and negative binomial when the rate itself wanders.

A window count ``n`` is compared with the count ``mu`` the baseline expects. Under a pure Poisson model
``P(X >= n)`` is the chance of seeing so many posts by luck. Real topics are overdispersed (a rainy day, a
TV ad), so the detector uses a negative binomial with the same mean and variance ``mu + d * mu^2``; with
``d = 0`` it is the Poisson. Only the upper tail far above the mean matters here, so the series is summed
upwards from ``n`` (no cancellation, no scipy) and anything at or below the mean is reported as 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

_MAX_TERMS = 100_000
_REL_EPS = 1e-12


def poisson_tail(n: int, mu: float) -> float:
    """P(X >= n) for X ~ Poisson(mu)."""
    return nb_tail(n, mu, 0.0)


def nb_tail(n: int, mu: float, dispersion: float) -> float:
    """P(X >= n) for a negative binomial with mean ``mu`` and variance ``mu + dispersion * mu**2``.

    Returns 1.0 when ``n <= mu``: the detector only asks about counts well above expectation.
    """
    if n <= 0 or n <= mu:
        return 1.0
    if mu <= 0.0:
        return 0.0
    if dispersion <= 0.0:
        log_term = -mu + n * math.log(mu) - math.lgamma(n + 1)
        ratio_of = _poisson_ratio(mu)
    else:
        r = 1.0 / dispersion
        p = r / (r + mu)
        log_term = math.lgamma(n + r) - math.lgamma(r) - math.lgamma(n + 1) + r * math.log(p) + n * math.log1p(-p)
        ratio_of = _nb_ratio(r, 1.0 - p)
    return min(1.0, _sum_upwards(n, math.exp(log_term), ratio_of))


def _poisson_ratio(mu: float) -> Callable[[int], float]:
    return lambda k: mu / (k + 1)


def _nb_ratio(r: float, q: float) -> Callable[[int], float]:
    return lambda k: (k + r) / (k + 1) * q


def _sum_upwards(n: int, term: float, ratio_of: Callable[[int], float]) -> float:
    """Sum pmf(n) + pmf(n+1) + ... given pmf(n) and pmf(k+1)/pmf(k)."""
    total = term
    k = n
    for _ in range(_MAX_TERMS):
        term *= ratio_of(k)
        k += 1
        total += term
        if term <= total * _REL_EPS:
            break
    return total


def minus_log10(p: float, cap: float = 50.0) -> float:
    """-log10 p, capped, for scores that stay readable."""
    if p <= 0.0:
        return cap
    return min(cap, -math.log10(p))


def normal_tail_score(z: float) -> float:
    """-log10 of the one-sided normal tail at z (a z-score on the same scale as the volume scores)."""
    return minus_log10(0.5 * math.erfc(z / math.sqrt(2.0)))
