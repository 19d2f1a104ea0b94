"""The One Euro pose filter removes jitter from a still head and follows a turning one without lag."""

from __future__ import annotations

import numpy as np

from immersive.tryon.smoothing import OneEuroFilter, PoseFilter

from .synthetic_head import euler_rotation, rotation_error_deg


def pose(yaw_deg: float, position) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = euler_rotation(yaw_deg, 0, 0)
    out[:3, 3] = position
    return out


def test_still_head_jitter_is_removed():
    rng = np.random.default_rng(1)
    smoother = PoseFilter()
    raw_errors, smooth_errors = [], []
    for frame in range(90):  # 3 s at 30 fps of 2 mm / 1 degree noise around a still pose
        noisy = pose(rng.normal(0, 1.0), np.array([0, 0, -0.5]) + rng.normal(0, 0.002, 3))
        out = smoother(noisy, frame / 30)
        if frame >= 30:
            raw_errors.append(np.linalg.norm(noisy[:3, 3] - [0, 0, -0.5]))
            smooth_errors.append(np.linalg.norm(out[:3, 3] - [0, 0, -0.5]))
            assert rotation_error_deg(out[:3, :3], np.eye(3)) < 1.0
    assert np.mean(smooth_errors) < 0.5 * np.mean(raw_errors)


def test_turning_head_is_followed():
    smoother = PoseFilter()
    for frame in range(60):  # 90 degrees/s yaw and 0.2 m/s sideways
        t = frame / 30
        truth = pose(90 * t - 45, [0.2 * t - 0.1, 0, -0.5])
        out = smoother(truth, t)
    assert rotation_error_deg(out[:3, :3], truth[:3, :3]) < 3.0  # less than one frame (3 degrees) behind
    assert np.linalg.norm(out[:3, 3] - truth[:3, 3]) < 0.0067  # less than one frame (6.7 mm) behind
    assert np.allclose(out[:3, :3] @ out[:3, :3].T, np.eye(3), atol=1e-9)


def test_quaternion_sign_flip_and_repeated_timestamps_are_harmless():
    smoother = PoseFilter()
    a = smoother(pose(179, [0, 0, -1]), 0.0)
    b = smoother(pose(-179, [0, 0, -1]), 1 / 30)  # 2 degrees apart across the +-180 seam
    assert rotation_error_deg(a[:3, :3], b[:3, :3]) < 2.5
    again = smoother(pose(0, [0, 0, -1]), 1 / 30)  # same timestamp: the output holds
    assert np.allclose(again, b)
    values = OneEuroFilter()
    assert values([1.0, 2.0], 0.0).tolist() == [1.0, 2.0]
