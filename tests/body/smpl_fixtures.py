"""A random but well-formed SMPL model dict, for tests that need SMPL's format and not a body shape."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mpt.body.joints import SMPL_PARENTS


def random_smpl_dict(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_v, n_j = 6890, 24
    jreg = sp.random(n_j, n_v, density=0.002, random_state=seed, format="csc") + sp.eye(n_j, n_v, format="csc")
    jreg = sp.csc_matrix(jreg.multiply(1.0 / jreg.sum(axis=1)))
    weights = rng.dirichlet(np.full(n_j, 0.2), size=n_v)
    parents = np.array(SMPL_PARENTS, dtype=np.int64)
    parents[0] = 4294967295  # the official files store the root's parent as uint32 max
    return {
        "v_template": rng.normal(scale=0.3, size=(n_v, 3)),
        "f": rng.integers(0, n_v, size=(13776, 3)).astype(np.uint32),
        "J_regressor": jreg,
        "weights": weights,
        "posedirs": rng.normal(scale=0.01, size=(n_v, 3, 207)),
        "shapedirs": rng.normal(scale=0.02, size=(n_v, 3, 10)),
        "kintree_table": np.stack([parents, np.arange(n_j)]),
        "J": np.zeros((n_j, 3)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
