"""Clothes of the rendered stand-in body: shares of garments per vertex checked for the properties the renders need
(a colour per vertex, mirror symmetry, a front unlike the back), with the mirror partners found by scipy's KD-tree."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from mpt.vis.render import vertex_normals
from tools.standin.appearance import GARMENTS, albedo, garment_weights, sample_palette


@pytest.fixture(scope="module")
def shares(demo_body):
    return garment_weights(demo_body)


def test_every_vertex_gets_one_whole_colour(shares, demo_body):
    assert shares.shape == (demo_body.template.shape[0], len(GARMENTS))
    assert (shares >= 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-9)
    palette = sample_palette(np.random.default_rng(0))
    colours = albedo(shares, palette).numpy()
    assert colours.shape == (shares.shape[0], 3) and (colours >= 0).all() and (colours <= 255).all()
    g = {name: k for k, name in enumerate(GARMENTS)}
    for seed in range(20):
        p = sample_palette(np.random.default_rng(seed))
        assert not np.array_equal(p[g["shirt"]], p[g["print"]])  # the jersey front always differs from its back


def test_clothes_are_mirror_symmetric(shares, demo_body):
    """A vertex and its mirror partner (x -> -x) wear the same: colour alone cannot tell left from right, so flipping
    an image (METRO's and the pose networks' augmentation) gives a plausible person."""
    v = demo_body.template.double().numpy()
    dist, partner = cKDTree(v).query(v * np.array([-1.0, 1.0, 1.0]))
    assert np.percentile(dist, 99) < 0.015  # the stand-in mesh is symmetric to about a centimetre
    diff = np.abs(shares - shares[partner]).max(axis=1)
    # Shares change fast only across garment borders (a centimetre apart can be a different garment).
    assert diff.mean() < 0.02 and np.percentile(diff, 99) < 0.2


def test_the_front_differs_from_the_back(shares, demo_body):
    """Rest pose faces +z: the jersey front (print and its panel) and the face only on the front, hair only on the
    back."""
    normals = vertex_normals(demo_body.template.float(), demo_body.faces).numpy()
    front, back = normals[:, 2] > 0.5, normals[:, 2] < -0.5
    g = {name: k for k, name in enumerate(GARMENTS)}
    torso = demo_body.skinning_weights.numpy()[:, [3, 6, 9]].sum(axis=1) > 0.9  # spine1..3
    head = demo_body.skinning_weights.numpy()[:, 15] > 0.9
    jersey_front = shares[:, g["print"]] + shares[:, g["panel"]]
    assert jersey_front[torso & front].mean() > 0.9 and jersey_front[torso & back].max() == 0
    assert shares[torso & back, g["shirt"]].mean() > 0.99
    assert shares[head & front, g["skin"]].mean() > 0.5 and shares[head & back, g["hair"]].mean() > 0.95


def test_the_front_panel_is_one_fixed_colour_down_the_midline(shares, demo_body):
    """The panel (the front/back cue a small pose network can learn) covers the chest's middle and nothing off it:
    full colour on the front torso within 7 cm of the midline x = 0, none beyond 9 cm, none on the back; its colour
    is the same in every palette and far (>= 90 levels in some channel) from every colour a shirt, print or trousers
    may take, so no back ever shows it."""
    v = demo_body.template.double().numpy()
    normals = vertex_normals(demo_body.template.float(), demo_body.faces).numpy()
    torso = demo_body.skinning_weights.numpy()[:, [3, 6, 9]].sum(axis=1) > 0.99  # spine1..3 only
    panel = shares[:, GARMENTS.index("panel")]
    middle = torso & (normals[:, 2] > 0.5) & (np.abs(v[:, 0]) < 0.07)
    assert middle.sum() > 50 and panel[middle].min() > 0.99
    assert panel[np.abs(v[:, 0]) > 0.09].max() == 0 and panel[normals[:, 2] < 0.1].max() == 0
    palettes = np.stack([sample_palette(np.random.default_rng(seed)) for seed in range(200)])  # (200, G, 3)
    k = GARMENTS.index("panel")
    assert (palettes[:, k] == palettes[0, k]).all()
    others = palettes[:, [GARMENTS.index(n) for n in ("shirt", "print", "trousers")]].reshape(-1, 3)
    assert (np.abs(others - palettes[0, k]).max(axis=1) >= 90).all()
