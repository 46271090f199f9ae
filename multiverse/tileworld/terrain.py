"""Procedural tileworld maps: top-down Minecraft-like terrain from OpenSimplex noise, deterministic by seed.

Three smooth fields drive the biomes, each a fractal sum of OpenSimplex octaves scaled to unit std:
elevation (water, beach, lowland, hills of stone, snowy peaks), temperature (ice, gravel beaches, snowy
plains, spruce vs oak forest, deserts) and moisture (forest vs grass vs desert). A fourth, fine field
places lava pools in the hills and badlands. Each seed also draws its own origin in noise space and
biases (sea level, climate), so maps differ in character: archipelagos, mountains, deserts, tundra.

A map of size ``(H, W)`` is the window at the seed's origin, so a crop of a larger region of the same seed
is distributed exactly like a map: the trainer draws many crops from a few big regions (noise is the
slow part: about 6 ms per 1024 tiles per full-resolution field, in pure Python).
"""

from __future__ import annotations

import numpy as np

from .tiles import GRASS, GRAVEL, ICE, LAVA, OAK, RED_SAND, SAND, SNOW, SPRUCE, STONE, WATER

MAP_SIZE = 32  # default map side in tiles
_NOISE_STD = 0.37  # empirical std of one OpenSimplex octave
_SAMPLES_PER_WAVELENGTH = 4  # smooth octaves are sampled every wavelength/4 tiles and interpolated


def _opensimplex(seed: int):
    try:
        import opensimplex
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tileworld map generation needs opensimplex: pip install opensimplex") from exc
    return opensimplex.OpenSimplex(seed)


def _octave(gen, x0: float, y0: float, h: int, w: int, wavelength: float) -> np.ndarray:
    """One octave of noise over the window ``[y0, y0+h) x [x0, x0+w)``, unit std. Returns (h, w)."""
    step = int(wavelength // _SAMPLES_PER_WAVELENGTH)
    if step <= 1:
        xs = (x0 + np.arange(w)) / wavelength
        ys = (y0 + np.arange(h)) / wavelength
        return gen.noise2array(xs, ys) / _NOISE_STD
    # Coarse grid covering the window, then separable linear interpolation back to every tile.
    gx = np.arange(0, w + step, step, dtype=np.float64)  # (gw,)
    gy = np.arange(0, h + step, step, dtype=np.float64)  # (gh,)
    coarse = gen.noise2array((x0 + gx) / wavelength, (y0 + gy) / wavelength) / _NOISE_STD  # (gh, gw)
    cols = np.stack([np.interp(np.arange(w), gx, row) for row in coarse])  # (gh, w)
    return np.stack([np.interp(np.arange(h), gy, col) for col in cols.T], axis=1)  # (h, w)


def _fbm(gen, x0: float, y0: float, h: int, w: int, octaves: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Fractal sum of ``(wavelength, amplitude)`` octaves, rescaled to about unit std. Returns (h, w)."""
    total = np.zeros((h, w))
    for i, (wavelength, amp) in enumerate(octaves):
        # Shift each octave far apart in noise space so octaves are independent.
        total += amp * _octave(gen, x0 + 1000.0 * i, y0 - 700.0 * i, h, w, wavelength)
    return total / np.sqrt(sum(a * a for _, a in octaves))


def generate_region(seed: int, height: int = MAP_SIZE, width: int = MAP_SIZE) -> np.ndarray:
    """The map of ``seed`` with ``height x width`` tiles: uint8 tile ids, shape (H, W).

    ``generate_region(s, 32, 32)`` is ``generate_map(s)``; a larger region extends the same terrain.
    """
    if height < 1 or width < 1:
        raise ValueError(f"a region needs at least 1x1 tiles, got {height}x{width}")
    rng = np.random.default_rng([0x711E, int(seed)])
    ox, oy = rng.uniform(-5000.0, 5000.0, size=2)
    sea, climate, wet = rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.5)
    gen = _opensimplex(int(rng.integers(0, 2**31)))

    elev = _fbm(gen, ox, oy, height, width, ((28.0, 1.0), (12.0, 0.5), (6.0, 0.25))) + sea  # (H, W)
    temp = _fbm(gen, ox + 3e4, oy, height, width, ((48.0, 1.0),)) + climate - 0.3 * np.maximum(elev, 0)
    moist = _fbm(gen, ox, oy + 3e4, height, width, ((32.0, 1.0), (10.0, 0.35))) + wet
    detail = _fbm(gen, ox - 3e4, oy, height, width, ((7.0, 1.0),))  # lava pools
    return classify(elev, temp, moist, detail)


def classify(elev: np.ndarray, temp: np.ndarray, moist: np.ndarray, detail: np.ndarray) -> np.ndarray:
    """Biome rules: fields of shape (H, W) (about unit std) -> uint8 tile ids (H, W)."""
    out = np.full(elev.shape, GRASS, dtype=np.uint8)
    lowland = (elev >= -0.1) & (elev < 0.9)
    out[lowland & (moist > 0.2)] = OAK
    out[lowland & (moist > 0.2) & (temp < -0.3)] = SPRUCE
    desert = lowland & (temp > 0.6) & (moist < -0.4)
    out[desert] = SAND
    out[desert & (elev > 0.4)] = RED_SAND
    out[lowland & (temp < -1.2)] = SNOW
    beach = (elev >= -0.3) & (elev < -0.1)
    out[beach] = np.where(temp[beach] < -0.6, GRAVEL, SAND)
    water = elev < -0.3
    out[water] = np.where(temp[water] < -1.2, ICE, WATER)
    out[(elev >= 0.9) & (elev < 1.7)] = STONE
    out[elev >= 1.7] = SNOW
    hot_rock = ((out == STONE) & (elev > 1.1)) | (out == RED_SAND)
    out[hot_rock & (detail > 1.1)] = LAVA
    return out


def generate_map(seed: int, size: int = MAP_SIZE) -> np.ndarray:
    """One square map of ``size x size`` tiles for ``seed``: uint8 tile ids (size, size). Deterministic."""
    return generate_region(seed, size, size)


def generate_maps(seeds, size: int = MAP_SIZE) -> np.ndarray:
    """Maps for each seed in ``seeds``: uint8 (N, size, size)."""
    return np.stack([generate_map(int(s), size) for s in seeds])
