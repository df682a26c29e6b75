"""Two-level statistical mask generator of experiment II (thesis §7.5.2), on Walker/Vose alias tables.

A *mask* is the number of objects of each type in an event (7 counts, Table 3.1 order). The
generator is fitted on the training split: the most frequent masks, up to 85 % of the events,
form level one; the rest form level two. A draw first picks the level (u < mass of level one),
then a mask inside the level from its alias table, so every draw costs O(1) whatever the number
of distinct masks; rare masks keep exactly their observed frequency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AliasTable:
    """Vose's alias method: O(n) set-up, O(1) per draw, exact probabilities."""

    prob: np.ndarray
    alias: np.ndarray

    @classmethod
    def build(cls, weights: np.ndarray) -> AliasTable:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or (w < 0).any() or w.sum() <= 0:
            raise ValueError("alias table needs a non-empty vector of non-negative weights with a positive sum")
        n = w.size
        scaled = w * n / w.sum()
        prob = np.ones(n)
        alias = np.arange(n)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s] = scaled[s]
            alias[s] = g
            scaled[g] = scaled[g] + scaled[s] - 1.0
            (small if scaled[g] < 1.0 else large).append(g)
        for i in small + large:  # numerical leftovers are exactly 1
            prob[i] = 1.0
        return cls(prob, alias)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n indices, vectorised: a column uniformly, then the column or its alias."""
        column = rng.integers(0, self.prob.size, size=n)
        keep = rng.random(n) < self.prob[column]
        return np.where(keep, column, self.alias[column])

    def probabilities(self) -> np.ndarray:
        """The distribution the table encodes (for checks)."""
        n = self.prob.size
        p = self.prob / n
        np.add.at(p, self.alias, (1.0 - self.prob) / n)
        return p


@dataclass(frozen=True)
class TwoLevelMaskGenerator:
    """Masks by frequency: level one holds the most frequent masks up to ``frequent_mass``."""

    masks: np.ndarray  # (n_masks, n_types) counts, most frequent first
    frequencies: np.ndarray  # (n_masks,) observed counts
    n_frequent: int

    @classmethod
    def fit(cls, counts: np.ndarray, frequent_mass: float = 0.85) -> TwoLevelMaskGenerator:
        """Fit on per-event counts (n_events, n_types)."""
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 2 or len(counts) == 0:
            raise ValueError("mask generator needs a non-empty (n_events, n_types) count matrix")
        masks, freq = np.unique(counts, axis=0, return_counts=True)
        order = np.lexsort((*masks.T[::-1], -freq))  # by frequency, ties by mask: deterministic
        masks, freq = masks[order], freq[order]
        cumulative = np.cumsum(freq) / freq.sum()
        n_frequent = int(np.searchsorted(cumulative, frequent_mass, side="left")) + 1
        return cls(masks, freq, min(n_frequent, len(masks)))

    @property
    def level_one_mass(self) -> float:
        return float(self.frequencies[: self.n_frequent].sum() / self.frequencies.sum())

    def sample(self, n: int, seed: int) -> np.ndarray:
        """n masks (n, n_types)."""
        rng = np.random.default_rng(seed)
        level_one = AliasTable.build(self.frequencies[: self.n_frequent])
        index = level_one.sample(n, rng)
        if self.n_frequent < len(self.masks):
            rare = rng.random(n) >= self.level_one_mass
            level_two = AliasTable.build(self.frequencies[self.n_frequent :])
            index[rare] = self.n_frequent + level_two.sample(int(rare.sum()), rng)
        return self.masks[index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "masks": self.masks.tolist(),
            "frequencies": self.frequencies.tolist(),
            "n_frequent": self.n_frequent,
            "level_one_mass": self.level_one_mass,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TwoLevelMaskGenerator:
        return cls(
            np.asarray(data["masks"], dtype=np.int64),
            np.asarray(data["frequencies"], dtype=np.int64),
            int(data["n_frequent"]),
        )
