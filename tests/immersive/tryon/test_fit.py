"""fit.py on exact synthetic landmarks (no MediaPipe): the canonical face projected through a known pose and
camera must come back exactly, and so must PD, face width, product anchors and hand placements."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from immersive.tryon import fit, models

from .synthetic_head import euler_rotation, rotation_error_deg

CAMERA = fit.Camera.for_image(640, 480, 60)


def observe(rotation, translation_m, scale=1.0, pd_canonical=0.064, camera=CAMERA, start_error_deg=4.0):
    """Exact landmarks of a face = canonical model x scale at (rotation, translation), with irises 11.7 mm
    across (in metres: 11.7e-3 / scale canonical units) centred pd apart on the eye plane, and a facial
    transformation matrix that is off by `start_error_deg` (as MediaPipe's is)."""
    canonical = models.canonical_face_model().vertices_m
    iris_r = fit.IRIS_DIAMETER_MM / 2000 / scale
    points = np.zeros((478, 3))
    points[:468] = canonical
    for centre_index, side in ((468, -1), (473, 1)):
        centre = np.array([side * pd_canonical / 2, 0.027, fit.EYE_PLANE_Z_M])
        # boundary: +x, +y, -x, -y of the face, as MediaPipe orders them in the image (right, up, left, down)
        points[centre_index : centre_index + 5] = centre + np.array([[0, 0, 0], [iris_r, 0, 0], [0, iris_r, 0], [-iris_r, 0, 0], [0, -iris_r, 0]])
    cam_points = translation_m + scale * points @ rotation.T
    pixels = camera.project(cam_points)
    landmarks = np.zeros((478, 3))
    landmarks[:, :2] = pixels / (camera.width, camera.height)
    matrix = np.eye(4)
    matrix[:3, :3] = euler_rotation(start_error_deg, -start_error_deg, start_error_deg / 2) @ rotation
    return fit.FaceObservation(landmarks, matrix, camera.width, camera.height)


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (25, -10, 5), (-30, 15, -12)])
def test_pose_scale_and_pd_are_recovered_exactly(yaw, pitch, roll):
    rotation = euler_rotation(yaw, pitch, roll)
    translation = np.array([0.03, -0.02, -0.45])
    scale = 0.93
    result = fit.fit_face(observe(rotation, translation, scale=scale, pd_canonical=0.066), CAMERA)
    assert rotation_error_deg(result.pose.rotation, rotation) < 1e-3
    assert np.allclose(result.pose.translation_m, translation, atol=1e-5)
    assert result.pose.scale == pytest.approx(scale, rel=1e-5)
    assert result.pd.value_mm == pytest.approx(66.0 * scale, abs=1e-2)
    # The width at the temples is the canonical one, scaled.
    canonical_width = 2 * fit.POSE_LANDMARKS[356][0] * 1000
    assert result.face_width.value_mm == pytest.approx(canonical_width * scale, abs=1e-2)
    assert result.pose.rms_px < 1e-2
    # Uncertainty: the population spread of the iris (3.6%) when both eyes agree.
    assert result.pd.uncertainty_mm == pytest.approx(result.pd.value_mm * fit.IRIS_DIAMETER_SD_MM / fit.IRIS_DIAMETER_MM, rel=1e-3)
    # Far PD: the eyes converge on a camera at ~0.45 m.
    assert result.far_pd.value_mm == pytest.approx(result.pd.value_mm / (1 - 0.0105 / result.distance_m), rel=1e-9)
    assert 0.40 < result.distance_m < 0.50


def test_glasses_sit_on_the_nose_at_pupil_height_and_turn_with_the_head():
    rotation = euler_rotation(20, 5, -3)
    translation = np.array([0.0, 0.0, -0.5])
    result = fit.fit_face(observe(rotation, translation), CAMERA)
    transform = fit.glasses_transform(result)
    assert np.allclose(transform[:3, :3], rotation, atol=1e-5)
    # The bridge: between the pupils (at y = 0.027 here), 6.3 mm above them as 168 is above the canonical eyes.
    bridge = np.array([0.0, 0.027 + fit.NOSE_BRIDGE[168][1] - fit.EYE_CENTRE_Y_M, fit.NOSE_BRIDGE[168][2]])
    assert np.allclose(transform[:3, 3], translation + rotation @ bridge, atol=1e-5)
    # The sample frame's lens centres (34 mm out, 8 mm below the bridge) sit over the pupils (PD 64 mm,
    # 27 mm up in the canonical face), in front of the eyes by a frame's vertex distance.
    lenses = (transform @ np.array([[-0.034, -0.008, 0, 1], [0.034, -0.008, 0, 1]]).T).T[:, :3]
    lenses_in_face = (lenses - result.pose.translation_m) @ result.pose.rotation / result.pose.scale
    assert np.abs(lenses_in_face[:, :2] - result.pupils_canonical[:, :2]).max() < 0.0025
    assert np.all(lenses_in_face[:, 2] - result.pupils_canonical[:, 2] > 0.012)


def test_other_categories_follow_their_anchors():
    rotation = euler_rotation(-15, 0, 8)
    translation = np.array([0.0, 0.02, -0.6])
    result = fit.fit_face(observe(rotation, translation), CAMERA)
    hat = fit.hat_transform(result)
    assert np.allclose(hat[:3, 3], translation + rotation @ np.array(fit.HAT_OPENING_CENTRE), atol=1e-5)
    assert hat[:3, 1] @ rotation[:, 1] == pytest.approx(math.cos(math.radians(fit.HAT_OPENING_TILT_DEG)), abs=1e-5)
    earrings = {e.side: e for e in fit.earring_transforms(result)}
    assert np.allclose(earrings["left"].transform[:3, 3], translation + rotation @ np.array(fit.EARLOBES["left"]), atol=1e-5)
    left = earrings["left"].transform
    assert np.allclose(left[:3, 1], [0, 1, 0])  # hanging straight down the image
    assert left[:3, 2] @ rotation[:, 0] > 0.9  # the ornament faces out of the left side of the head
    assert earrings["right"].transform[:3, 2] @ rotation[:, 0] < -0.9
    assert earrings["left"].visible and earrings["right"].visible  # 15 degrees of yaw shows both ears
    necklace = fit.necklace_transform(result)
    assert np.allclose(necklace[:3, 1], [0, 1, 0])  # upright: the torso does not roll with the head
    assert necklace[1, 3] < hat[1, 3] - 0.2  # well below the head
    turned = fit.fit_face(observe(euler_rotation(-70, 0, 0), translation), CAMERA)
    assert {e.side: e.visible for e in fit.earring_transforms(turned)} == {"left": True, "right": False}


def test_frame_size_advice():
    face = fit.Measurement(140.0, 4.0)
    assert fit.frame_size_advice(face, 141.0).size == "medium"
    assert fit.frame_size_advice(face, 128.0).size == "narrow"
    assert fit.frame_size_advice(face, 152.0).size == "wide"
    advice = fit.frame_size_advice(face, 150.0)
    assert advice.size == "wide" and advice.difference_mm == 10.0 and advice.tolerance_mm == 9.0
    with pytest.raises(fit.FitError):
        fit.frame_size_advice(face, 0.0)


def synthetic_hand(rotation, translation, handedness="Right"):
    """A flat hand labelled as MediaPipe labels it: fingers up (+Y), thumb towards -X; with the label "Right"
    (MediaPipe assumes a mirrored image) that hand shows the camera its back at identity."""
    world = np.zeros((21, 3))
    for finger, x in zip(("thumb", "index", "middle", "ring", "pinky"), (-0.045, -0.025, -0.005, 0.015, 0.033)):
        for k, index in enumerate(fit.FINGERS[finger]):
            world[index] = (x - 0.01 * (finger == "thumb") * k, 0.07 + 0.025 * k - 0.03 * (finger == "thumb"), 0.0)
    world -= world.mean(0)
    camera_points = translation + world @ rotation.T
    pixels = CAMERA.project(camera_points)
    landmarks = np.zeros((21, 3))
    landmarks[:, :2] = pixels / (CAMERA.width, CAMERA.height)
    mediapipe_world = (world @ rotation.T) * (1, -1, -1)  # MediaPipe: camera axes with +Y down, +Z away
    return fit.HandObservation(landmarks, mediapipe_world, handedness, CAMERA.width, CAMERA.height), camera_points


def test_hand_is_placed_in_metres_and_ring_and_watch_follow_the_fingers():
    rotation = euler_rotation(10, 20, -30)
    observation, truth = synthetic_hand(rotation, np.array([0.05, -0.03, -0.4]))
    hand = fit.fit_hand(observation, CAMERA)
    assert np.allclose(hand.points_m, truth, atol=1e-9)
    ring = fit.ring_transform(hand, "ring")
    knuckle, joint = truth[13], truth[14]
    assert np.allclose(ring[:3, 3], knuckle + fit.RING_POSITION_ON_PHALANX * (joint - knuckle))
    assert np.allclose(ring[:3, 2], (joint - knuckle) / np.linalg.norm(joint - knuckle))
    watch = fit.watch_transform(hand)
    forearm = truth[fit.WRIST] - truth[9]
    assert np.allclose(watch[:3, 3], truth[fit.WRIST] + fit.WATCH_FROM_WRIST_M * forearm / np.linalg.norm(forearm))
    assert np.allclose(watch[:3, 0], -forearm / np.linalg.norm(forearm))  # +X along the wrist towards the hand
    # The back of this hand faces the camera (+Z before the rotation): the ring's top and the dial face it too.
    assert ring[:3, 1] @ rotation[:, 2] > 0.9 and watch[:3, 2] @ rotation[:, 2] > 0.9
    left = fit.fit_hand(synthetic_hand(rotation, np.array([0.05, -0.03, -0.4]), "Left")[0], CAMERA)
    assert fit.ring_transform(left)[:3, 1] @ rotation[:, 2] < -0.9  # the same shape as a left hand: its palm
    for transform in (ring, watch):
        assert np.allclose(transform[:3, :3] @ transform[:3, :3].T, np.eye(3), atol=1e-9)
    with pytest.raises(fit.FitError, match="unknown ring finger"):
        fit.ring_transform(hand, "thumb")


def test_tables_match_the_installed_canonical_face():
    canonical = models.canonical_face_model()
    assert canonical.vertices_m.shape == (468, 3) and canonical.triangles.shape == (898, 3)
    for index, (x, y, z, _) in fit.POSE_LANDMARKS.items():
        assert np.allclose(canonical.vertices_m[index], (x, y, z), atol=2e-6), index
    for table in (fit.NOSE_BRIDGE, fit.CHIN):
        for index, point in table.items():
            assert np.allclose(canonical.vertices_m[index], point, atol=2e-6), index
    contours = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
                263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]
    assert canonical.vertices_m[contours, 2].mean() == pytest.approx(fit.EYE_PLANE_Z_M, abs=2e-6)
    assert canonical.vertices_m[contours, 1].mean() == pytest.approx(fit.EYE_CENTRE_Y_M, abs=2e-6)


def test_camera_projection_matrix_agrees_with_project():
    camera = fit.Camera(800, 600, 700.0, 410.0, 290.0)
    points = np.array([[0.1, -0.05, -0.8], [-0.2, 0.1, -1.5]])
    clip = (camera.projection_matrix() @ np.c_[points, np.ones(2)].T).T
    ndc = clip[:, :2] / clip[:, 3:]
    pixels = np.c_[(ndc[:, 0] + 1) / 2 * camera.width, (1 - ndc[:, 1]) / 2 * camera.height]
    assert np.allclose(pixels, camera.project(points))


def test_fit_parameters_are_json():
    data = json.loads(json.dumps(fit.fit_parameters()))
    assert data["iris_diameter_mm"] == 11.7 and len(data["pose_landmarks"]) == len(fit.POSE_LANDMARKS)


def test_bad_input_is_a_fit_error():
    good = observe(np.eye(3), np.array([0.0, 0.0, -0.5]))
    with pytest.raises(fit.FitError, match="478"):
        fit.fit_face(fit.FaceObservation(good.landmarks[:468], good.transformation_matrix, 640, 480), CAMERA)
