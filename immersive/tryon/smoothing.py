"""Temporal smoothing of product poses for live streams: the One Euro filter (Casiez, Roussel, Vogel, CHI
2012). It is a low-pass filter whose cut-off rises with the signal's speed, so a still head gives a still
product (jitter removed) while a moving head is followed without visible lag.

Positions are filtered per component; rotations as unit quaternions (sign-aligned with the previous output so
q and -q do not fight, renormalized after filtering), with the speed measured as the angular rate."""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter of a vector signal. `min_cutoff_hz` sets the smoothing when still (lower: steadier),
    `beta` how fast the cut-off rises with speed (higher: less lag), `d_cutoff_hz` smooths the speed itself."""

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.5, d_cutoff_hz: float = 1.0):
        if min_cutoff_hz <= 0 or d_cutoff_hz <= 0 or beta < 0:
            raise ValueError("One Euro filter: cut-offs must be positive and beta non-negative")
        self.min_cutoff_hz, self.beta, self.d_cutoff_hz = min_cutoff_hz, beta, d_cutoff_hz
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._value = self._speed = self._time = None

    def __call__(self, value, time_s: float) -> np.ndarray:
        x = np.asarray(value, dtype=np.float64)
        if self._value is None or self._speed is None or self._time is None:
            self._value, self._speed, self._time = x.copy(), np.zeros_like(x), time_s
            return self._value.copy()
        if time_s <= self._time:  # a repeated or late frame: no time elapsed to measure a speed over
            return self._value.copy()
        dt = time_s - self._time
        speed = (x - self._value) / dt
        a_d = _alpha(self.d_cutoff_hz, dt)
        self._speed = a_d * speed + (1 - a_d) * self._speed
        cutoff = self.min_cutoff_hz + self.beta * float(np.linalg.norm(self._speed))
        a = _alpha(cutoff, dt)
        self._value = a * x + (1 - a) * self._value
        self._time = time_s
        return self._value.copy()


def _quaternion(rotation: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix (Shepperd's method, stable for every angle)."""
    m = rotation
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def _rotation(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


class PoseFilter:
    """One Euro smoothing of 4x4 rigid transforms (position in metres, rotation as a quaternion). The
    defaults suit a product on a face at arm's length: still jitter of a millimetre or two is halved or
    better, a head turning at 90 degrees/s or moving at 0.2 m/s lags by less than a frame at 30 fps
    (tests/immersive/tryon/test_smoothing.py)."""

    def __init__(
        self,
        min_cutoff_hz: float = 0.5,
        position_beta: float = 30.0,  # Hz per m/s
        rotation_beta: float = 6.0,  # Hz per quaternion unit/s (about half the angular rate in rad/s)
        d_cutoff_hz: float = 1.0,
    ):
        self.position = OneEuroFilter(min_cutoff_hz, position_beta, d_cutoff_hz)
        self.rotation = OneEuroFilter(min_cutoff_hz, rotation_beta, d_cutoff_hz)
        self._last_q: np.ndarray | None = None

    def reset(self) -> None:
        self.position.reset()
        self.rotation.reset()
        self._last_q = None

    def __call__(self, transform: np.ndarray, time_s: float) -> np.ndarray:
        transform = np.asarray(transform, dtype=np.float64)
        q = _quaternion(transform[:3, :3])
        if self._last_q is not None and q @ self._last_q < 0:
            q = -q  # the same rotation, on the side of the previous output
        q = self.rotation(q, time_s)
        q /= np.linalg.norm(q)
        self._last_q = q
        out = np.eye(4)
        out[:3, :3] = _rotation(q)
        out[:3, 3] = self.position(transform[:3, 3], time_s)
        return out
