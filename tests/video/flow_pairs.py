"""Synthetic frame pairs for optical flow and the agreement measures of the PyTorch TV-L1 against
OpenCV's (used by ``test_video_tvl1.py`` and ``benchmarks/tvl1_agreement.py``).

The measures follow the issue: OpenCV's TV-L1 is chaotic, so agreement is judged against its own noise
floor (the mean end-point error between OpenCV on the pair and OpenCV on the pair plus uniform
±1e-4 grey-level noise), never by the maximum error."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

NOISE = 1e-4  # grey levels


def texture(height: int, width: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    """A smooth random float texture in 0..255."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    return cv2.normalize(cv2.GaussianBlur(noise, (0, 0), sigma), None, 0, 255, cv2.NORM_MINMAX)


def global_shift(height: int, width: int, dx: int = 3, dy: int = -2, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The whole frame moves right by dx and down by dy pixels (crops of one larger texture)."""
    m = max(abs(dx), abs(dy))
    big = texture(height + 2 * m, width + 2 * m, seed)
    a = big[m : m + height, m : m + width]
    b = big[m - dy : m - dy + height, m - dx : m - dx + width]
    return _uint8(a), _uint8(b)


def smooth_field(height: int, width: int, amplitude: float = 2.5, seed: int = 1) -> tuple[np.ndarray, ...]:
    """A smooth sinusoidal displacement field of up to ``amplitude`` pixels (bilinear resampling)."""
    a = texture(height, width, seed)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    fx = amplitude * np.sin(2 * np.pi * rows / height) * np.cos(np.pi * cols / width)
    fy = amplitude * np.cos(2 * np.pi * cols / width) * np.sin(np.pi * rows / height)
    b = cv2.remap(
        a, (cols - fx).astype(np.float32), (rows - fy).astype(np.float32), cv2.INTER_LINEAR, None, cv2.BORDER_REFLECT
    )
    return _uint8(a), _uint8(b)


def moving_object(height: int, width: int, dx: int = 5, dy: int = 3, seed: int = 2) -> tuple[np.ndarray, ...]:
    """A textured square (a third of the frame) moves by (dx, dy) over a still textured background."""
    background = texture(height, width, seed)
    side = min(height, width) // 3
    patch = texture(side, side, seed + 100, sigma=1.5)
    top, left = height // 3, width // 3
    a, b = background.copy(), background.copy()
    a[top : top + side, left : left + side] = patch
    b[top + dy : top + dy + side, left + dx : left + dx + side] = patch
    return _uint8(a), _uint8(b)


def too_large(height: int, width: int, seed: int = 3) -> tuple[np.ndarray, ...]:
    """A global shift of a third of the width: beyond what the 5-level pyramid can track."""
    return global_shift(height, width, dx=width // 3, dy=0, seed=seed)


CASES: dict[str, Callable[[int, int], tuple[np.ndarray, ...]]] = {
    "global shift": global_shift,
    "smooth field": smooth_field,
    "moving object": moving_object,
    "motion too large": too_large,
}


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def opencv_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's TV-L1 with its defaults, float32 (H, W, 2) pixels; uint8 or float (0..1) input."""
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)


def noise_floor(a: np.ndarray, b: np.ndarray, reference: np.ndarray, seed: int = 0) -> dict[str, float]:
    """``agreement`` of OpenCV with itself: its flow of the pair plus uniform ±1e-4 grey levels of noise
    (fed as float/255, which OpenCV scales back by 255) against its flow of the pair."""
    rng = np.random.default_rng(seed)
    noisy = [(x.astype(np.float32) + rng.uniform(-NOISE, NOISE, x.shape).astype(np.float32)) / 255 for x in (a, b)]
    return agreement(opencv_flow(*noisy), reference)


def agreement(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Mean end-point error (px), share of pixels within 0.1 px, and mean |Δ| after the I3D recipe's
    clip to ±20 and /20."""
    epe = np.linalg.norm(ours - reference, axis=-1)
    recipe = np.abs(np.clip(ours, -20, 20) / 20 - np.clip(reference, -20, 20) / 20)
    return {
        "mean_epe": float(epe.mean()),
        "within_0.1": float((epe <= 0.1).mean()),
        "recipe_mean_abs": float(recipe.mean()),
    }


def limits(floor: dict[str, float]) -> dict[str, float]:
    """The issue's bounds, widened to 1.5 x OpenCV's own noise where that is larger: mean EPE <=
    max(0.03, 1.5 floor), share within 0.1 px >= 95 % (or 1 - 1.5 x OpenCV's own share outside), recipe
    mean |Δ| <= max(0.002, 1.5 floor). On trackable motion OpenCV's noise is far inside the fixed bounds;
    on motion the pyramid cannot follow it is not, and only the widened bound is meaningful."""
    return {
        "mean_epe": max(0.03, 1.5 * floor["mean_epe"]),
        "within_0.1": min(0.95, 1 - 1.5 * (1 - floor["within_0.1"])),
        "recipe_mean_abs": max(0.002, 1.5 * floor["recipe_mean_abs"]),
    }


def passes(measured: dict[str, float], floor: dict[str, float]) -> bool:
    bound = limits(floor)
    return (
        measured["mean_epe"] <= bound["mean_epe"]
        and measured["within_0.1"] >= bound["within_0.1"]
        and measured["recipe_mean_abs"] <= bound["recipe_mean_abs"]
    )
