"""Random masks for masked modelling: METRO's up-to count and the exact count, checked against their laws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from mpt.masking import masked_counts, random_mask

DRAWS = 20_000


def _up_to_cdf(k: np.ndarray, ratio: float, n: int) -> np.ndarray:
    """P(int(u * r * n) <= k) for u ~ U[0, 1): min(1, (k + 1) / (r * n)) (METRO's count, by hand)."""
    return np.minimum(1.0, (k + 1) / (ratio * n))


@pytest.mark.parametrize("n", [14, 17, 431])
def test_up_to_counts_follow_metros_law(n: int) -> None:
    gen = torch.Generator().manual_seed(0)
    counts = masked_counts(DRAWS, n, 0.3, "up_to", gen).numpy()
    top = math.floor(0.3 * n - 1e-12)  # the largest int(u * 0.3 * n) for u < 1: 4 of 14, 5 of 17, 129 of 431
    assert counts.min() == 0 and counts.max() == top
    # Kolmogorov-Smirnov distance of the empirical law from the exact one (discrete, so compare at every count)
    ks = np.abs(np.searchsorted(np.sort(counts), np.arange(top + 1), side="right") / DRAWS
                - _up_to_cdf(np.arange(top + 1), 0.3, n)).max()  # fmt: skip
    assert ks < 1.63 / math.sqrt(DRAWS)  # the 1% critical value of the KS statistic
    expected_mean = sum(1 - k / (0.3 * n) for k in range(1, top + 1))  # E[X] = sum_k P(X >= k)
    assert abs(counts.mean() - expected_mean) < 4 * counts.std() / math.sqrt(DRAWS)


@pytest.mark.parametrize("ratio, n, k", [(0.3, 445, 134), (0.3, 17, 5), (0.1, 17, 2), (0.5, 17, 9), (0.0, 17, 0),
                                         (1.0, 17, 17)])  # fmt: skip
def test_exact_counts_round_half_up(ratio: float, n: int, k: int) -> None:
    mask = random_mask(64, n, ratio, "exact", torch.Generator().manual_seed(1))
    assert mask.dtype == torch.bool and mask.shape == (64, n)
    assert mask.sum(dim=1).tolist() == [k] * 64


def test_masked_tokens_are_a_uniform_subset_of_the_drawn_size() -> None:
    gen = torch.Generator().manual_seed(2)
    mask = random_mask(DRAWS, 17, 0.3, "up_to", gen)
    per_token = mask.float().mean(dim=0).numpy()  # each token's masking frequency: E[count] / 17
    expected = sum(1 - k / 5.1 for k in range(1, 6)) / 17
    assert np.abs(per_token - expected).max() < 0.01
    # the masked set of a sample has exactly the drawn size: rows with the same count are equally likely
    # to mask any token (chi-square over tokens, for samples that mask exactly 3)
    rows = mask[mask.sum(dim=1) == 3]
    assert stats.chisquare(rows.sum(dim=0).numpy()).pvalue > 1e-3


def test_reproducible_from_the_generator_and_bad_arguments() -> None:
    a = random_mask(8, 431, 0.3, "up_to", torch.Generator().manual_seed(5))
    b = random_mask(8, 431, 0.3, "up_to", torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and len({tuple(r.tolist()) for r in a}) == 8
    with pytest.raises(ValueError, match="ratio"):
        random_mask(2, 5, 1.5)
    with pytest.raises(ValueError, match="count"):
        random_mask(2, 5, 0.3, "half")
