"""Normalize: metres, +Y up, product front +Z, origin at the bottom centre, clean root transforms
(the Khronos 3D Commerce asset-creation guidelines).

Every decision is reported with the evidence behind it and nothing is guessed silently:
- up axis: the merchant's `up`, else the file's own statement (`Asset.up_axis`), else geometry: a model is
  turned only when the evidence is strong (a flat base of real area at the bottom of another axis and none
  under -Y; STL files, made for CAD and 3D printing, start from their +Z-up convention);
- unit: the merchant's `unit`, else the merchant's real `dimensions`, else the file's stated unit, else the
  category's plausible size (a chair 80 units tall is in centimetres); when no unit or several fit, the model
  stays in metres and is flagged `plausible=False` with a warning;
- try-on categories (asset_pipeline/tryon.py) get their spec's origin instead of the bottom centre: the anchor
  (a bridge midpoint, a ring's centre...), found on the geometry; a model in other axes is turned into the
  spec's when the geometry says so unambiguously (unless the merchant gave `up`/`front`), nodes get the spec's
  names by what they are, and earring and temple nodes their hook point and hinge as their own origin.

The correction (rotation, uniform scale, translation) is pushed into the scene roots and baked: root meshes
are transformed (a shared mesh is duplicated first), children get the correction in their local matrix, so node
names, hierarchy and pivots survive while every root ends with an identity matrix."""

from __future__ import annotations

import copy
import math
from itertools import permutations
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..asset import IDENTITY, Asset, Mesh, Node, Primitive
from ..categories import Category, get_category
from ..errors import InvalidGeometryError, OptionError
from ..tryon import (
    ORIGIN_TOLERANCE_M,
    SPEC_VERSION,
    Inspection,
    axis_name,
    get_spec,
    inspect,
)
from . import StageReport

UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "ft": 0.3048}
"""Metres per unit, by the short names merchants and files use (also the suffixes `parse_dimensions` accepts)."""

UNIT_ALIASES: dict[str, str] = {
    "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "inch": "in", "inches": "in", '"': "in", "foot": "ft", "feet": "ft", "'": "ft",
}  # fmt: skip

# Units the category heuristic considers: the ones real product files come in. Feet are left out on purpose:
# a model in feet is rare and its sizes collide with metres-for-small-things.
HEURISTIC_UNITS = ("m", "cm", "mm", "in")

AXES: dict[str, np.ndarray] = {
    f"{sign}{name}": float(f"{sign}1") * np.eye(3)[i] for i, name in enumerate("XYZ") for sign in "+-"
}

# Geometry evidence for the up axis: share of the surface area lying flat on the bottom plane.
STRONG_BASE = 0.01
NO_BASE = 0.001
MERCHANT_TOLERANCE = 0.05


class NormalizeOptions(BaseModel):
    unit: str | None = Field(default=None, description="the file's unit (m, cm, mm, in, ft); None = detect")
    up: str | None = Field(default=None, description='the file\'s up axis ("+Y", "+Z", "-Z", "+X", ...); None = detect')
    dimensions: tuple[float, float, float] | None = Field(
        default=None, description="the product's real width x height x depth in metres; sets the scale when no unit is given"
    )
    category: str = Field(default="generic", description="product category (categories.py): plausible size, placement")
    front: str | None = Field(
        default=None, description="the file's front axis (same notation as `up`); None = the up convention's own front"
    )


def parse_unit(unit: str) -> str:
    key = unit.strip().lower()
    key = UNIT_ALIASES.get(key, key)
    if key not in UNIT_SCALES:
        raise OptionError(f"unknown unit {unit!r}; known: {', '.join(UNIT_SCALES)}")
    return key


def parse_axis(axis: str, what: str = "up axis") -> str:
    key = axis.strip().upper()
    if len(key) == 1:
        key = "+" + key
    if key not in AXES:
        raise OptionError(f"{what} {axis!r}: expected one of {', '.join(AXES)}")
    return key


def normalize(asset: Asset, options: NormalizeOptions) -> StageReport:
    category = get_category(options.category)
    bounds = asset.bounds()
    if not np.isfinite(bounds).all() or not any(p.vertex_count for p in asset.primitives()):
        raise InvalidGeometryError("nothing to normalize: the asset has no vertices")
    warnings: list[str] = []

    up, up_by, up_evidence = _decide_up(asset, options, category)
    rotation = _rotation_to_y_up(up)
    if options.front is not None:
        rotation = _front_rotation(rotation @ AXES[parse_axis(options.front, "front axis")], options.front) @ rotation
    # File units; the order of the axes does not matter to the unit (largest side, geometric mean of ratios).
    unit = _decide_unit(asset, options, category, _rotated_size(bounds, rotation), warnings)
    scale = unit["scale_to_m"]

    found = None
    if category.tryon:
        merchant_axes = options.up is not None or options.front is not None
        found = inspect(asset, category.name, _affine(scale * rotation), orient=not merchant_axes)
        if found.turn is not None:
            rotation = found.turn @ rotation
            up = axis_name(rotation.T @ np.array([0.0, 1.0, 0.0]))
            up_by, up_evidence = "tryon-geometry", {"reason": found.turn_reason}
            warnings.append(f"turned into the {category.name} try-on axes: {found.turn_reason}")
    size_m = _rotated_size(bounds, rotation) * scale  # (w, h, d) in metres

    linear = scale * rotation
    corners = _corners(bounds) @ linear.T
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    translation = -np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
    anchor_m = (0.0, 0.0, 0.0)  # where the anchor is in the bottom-centre frame
    if found is not None and found.anchor is not None and get_spec(category.name).kind == "worn":
        anchor_m = tuple(float(v) for v in found.anchor + translation)
        # An anchor within the tolerance of the authored origin leaves it where it is: a model that follows the
        # spec is not moved (its hotspots and the like stay valid).
        moved = any(f.code == "origin" for f in found.findings)
        translation = -found.anchor if moved else np.zeros(3)
    correction = np.eye(4)
    correction[:3, :3] = linear
    correction[:3, 3] = translation
    kept_roots = _bake_into_roots(asset, correction)
    if kept_roots:
        warnings.append(
            f"root nodes {', '.join(kept_roots)} carry a light or camera, so they keep the correction as their own "
            "transform instead of an identity matrix"
        )

    asset.unit_scale = 1.0
    asset.up_axis = "+Y"
    asset.extras["unit"] = {
        "source_unit": unit["source_unit"],
        "scale_to_m": scale,
        "determined_by": unit["determined_by"],
        "up_axis": up,
        "plausible": unit["plausible"],
    }
    asset.extras["anchor"] = None if found is None else tryon_anchor(asset, category, found, anchor_m, translation, merchant_axes)
    final = asset.dimensions()
    changes: dict[str, Any] = {
        "source_dimensions": [round(float(v), 6) for v in bounds[1] - bounds[0]],
        "up_axis": up,
        "up_determined_by": up_by,
        "up_evidence": up_evidence,
        "rotation": rotation.round(6).tolist(),
        "source_unit": unit["source_unit"],
        "scale_to_m": scale,
        "unit_determined_by": unit["determined_by"],
        "translation_m": [round(float(v), 6) for v in translation],
        "dimensions_m": [round(float(v), 6) for v in final],
        "plausible": unit["plausible"],
        "category": category.name,
        "roots_baked": len(asset.roots) - len(kept_roots),
    }
    if asset.extras["anchor"] is not None:
        changes["tryon_anchor_m"] = [round(v, 6) for v in anchor_m]
        changes["tryon_fixes"] = asset.extras["anchor"]["fixes"]
    if options.dimensions is not None:
        target = np.asarray(options.dimensions, dtype=np.float64)
        difference = (size_m - target) / target
        changes["merchant_dimensions_m"] = [float(v) for v in target]
        changes["merchant_difference"] = [round(float(v), 4) for v in difference]
        if np.abs(difference).max() > MERCHANT_TOLERANCE:
            warnings.append(_dimension_mismatch(size_m, target, difference))
    return StageReport(stage="normalize", changes=changes, warnings=warnings)


def tryon_anchor(
    asset: Asset,
    category: Category,
    found: Inspection,
    anchor_m: tuple[float, float, float],
    translation: np.ndarray,
    merchant_axes: bool,
) -> dict[str, Any]:
    """Apply the try-on spec's fixes that are not part of the root correction, then the record metadata.Anchor
    holds: the spec's conventions for the category, what was fixed, the real sizes measured on the result and
    what it still lacks (`problems`, from `check_tryon` on the finished model).

    `found` is the inspection of the model before the correction (in its frame: scaled and turned, not
    moved); `translation` the move the correction applied; `anchor_m` the anchor in the bottom-centre frame;
    `merchant_axes` whether the merchant stated the axes (a turn is then reported, never made)."""
    spec = get_spec(category.name)
    assert spec is not None
    fixes: list[str] = []
    if found.turn is not None:
        fixes.append(f"turned into the spec's axes: {found.turn_reason}")
    if any(f.code == "origin" for f in found.findings):
        fixes.append(f"origin moved {np.linalg.norm(found.anchor) * 1000:.1f} mm to the anchor")
    for index, name in found.renames.items():
        fixes.append(f"node {asset.nodes[index].name!r} renamed {name} (by its geometry)")
        asset.nodes[index].name = name
    if found.lens_split is not None:
        fixes.append(f"node {asset.nodes[found.lens_split].name!r} held both lenses: split into LensL and LensR")
        _split_lenses(asset, found.lens_split)
    worlds = dict(asset.walk())
    pivots = {
        index: point + translation
        for index, point in found.node_origins.items()
        if np.linalg.norm(worlds[index][:3, 3] - (point + translation)) > ORIGIN_TOLERANCE_M
    }
    moved_pivots = _repivot(asset, pivots)
    if moved_pivots:
        fixes.append(f"node origins moved to where the spec puts them: {', '.join(moved_pivots)}")
    final = inspect(asset, category.name, orient=not merchant_axes)
    return {
        "category": category.name,
        "point_m": anchor_m,
        "spec_version": SPEC_VERSION,
        "kind": spec.kind,
        "origin": spec.anchor,
        "axes": dict(spec.axes),
        "outward_axis": spec.outward,
        "required_nodes": list(spec.required_nodes),
        "missing_nodes": [f.node for f in final.findings if f.code == "missing_node" and f.node is not None],
        "node_origins_m": {asset.nodes[i].name: tuple(float(v) for v in p) for i, p in final.node_origins.items()},
        "sizes_m": {name: round(value, 6) for name, value in final.sizes.items()},
        "shades": [shade.as_dict() for shade in final.shades],
        "occluder": spec.occluder,
        "fixes": fixes,
        "problems": [f.as_dict() for f in final.findings],
        "notes": [f"placement: {category.placement}", *found.notes],
    }


def _parents(asset: Asset) -> dict[int, int]:
    return {child: index for index, node in enumerate(asset.nodes) for child in node.children}


def _repivot(asset: Asset, points: dict[int, np.ndarray]) -> list[str]:
    """Give each node in `points` its own origin at that point (model frame) with the model's axes, its
    drawing unchanged: the mesh is moved the other way (copied first when another node draws it with a
    different transform). Returns the names of the nodes whose origin moved."""
    worlds = dict(asset.walk())
    parents = _parents(asset)
    users: dict[int, list[int]] = {}
    for index, node in enumerate(asset.nodes):
        if node.mesh is not None:
            users.setdefault(node.mesh, []).append(index)
    moves: dict[int, np.ndarray] = {}
    for index, point in points.items():
        target = _affine(np.eye(3), point)
        if np.allclose(worlds[index], target, atol=1e-9):
            continue
        parent_world = dict(asset.walk())[parents[index]] if index in parents else IDENTITY  # as moved so far
        node = asset.nodes[index]
        new_local = np.linalg.inv(parent_world) @ target
        for child in node.children:
            asset.nodes[child].matrix = np.linalg.inv(new_local) @ node.matrix @ asset.nodes[child].matrix
        node.matrix = new_local
        moves[index] = np.linalg.inv(target) @ worlds[index]
    done: dict[int, np.ndarray] = {}
    for index, move in moves.items():
        node = asset.nodes[index]
        if node.mesh in done and np.allclose(done[node.mesh], move, atol=1e-9):
            continue
        shared = node.mesh in done or any(u not in moves or not np.allclose(moves[u], move, atol=1e-9) for u in users[node.mesh] if u != index)
        if shared:
            asset.meshes.append(_copy_mesh(asset.meshes[node.mesh]))
            node.mesh = len(asset.meshes) - 1
        for prim in asset.meshes[node.mesh].primitives:
            transform_primitive(prim, move)
        done[node.mesh] = move
    return [asset.nodes[i].name for i in moves]


def _split_lenses(asset: Asset, index: int) -> None:
    """Split a node drawing both lenses at the symmetry plane (x = 0 of the model): it keeps the left lens
    (+X) as LensL, and a new sibling with the same transform draws the right one as LensR."""
    node = asset.nodes[index]
    world = dict(asset.walk())[index]
    halves: list[list[Primitive]] = [[], []]
    for prim in asset.meshes[node.mesh].primitives:
        x = prim.positions.astype(np.float64) @ world[0, :3] + world[0, 3]
        left = x[prim.indices].mean(axis=1) > 0
        for half, faces in zip(halves, (prim.indices[left], prim.indices[~left])):
            if len(faces):
                keep, remapped = np.unique(faces, return_inverse=True)
                part = prim.take_vertices(keep)
                part.indices = remapped.reshape(-1, 3).astype(np.uint32)
                half.append(part)
    name = asset.meshes[node.mesh].name
    asset.meshes.append(Mesh(f"{name}L", halves[0]))
    node.mesh, node.name = len(asset.meshes) - 1, "LensL"
    asset.meshes.append(Mesh(f"{name}R", halves[1]))
    asset.nodes.append(Node("LensR", matrix=node.matrix.copy(), mesh=len(asset.meshes) - 1))
    parent = _parents(asset).get(index)
    (asset.nodes[parent].children if parent is not None else asset.roots).append(len(asset.nodes) - 1)


def _affine(linear: np.ndarray, translation: np.ndarray | None = None) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = linear
    if translation is not None:
        out[:3, 3] = translation
    return out


# ---- up axis -------------------------------------------------------------------------------------


def _decide_up(asset: Asset, options: NormalizeOptions, category: Category) -> tuple[str, str, dict[str, Any]]:
    if options.up is not None:
        return parse_axis(options.up), "merchant", {}
    if asset.up_axis is not None:
        return parse_axis(asset.up_axis), "file", {}
    return detect_up_axis(asset, category)


def detect_up_axis(asset: Asset, category: Category) -> tuple[str, str, dict[str, Any]]:
    """(up axis, how it was decided, evidence) for a file that does not state its up axis.

    Evidence is the share of surface area lying flat on the bottom plane along -Y and -Z. A product standing
    on a floor or table has a base there; +Y is kept unless -Y has no base at all while -Z has a real one.
    STL files start from +Z up (the CAD / 3D-printing convention) and are kept Y-up only when the geometry says
    so just as strongly. Wall, face and body products are not judged by a base."""
    base = support_fractions(asset)
    evidence: dict[str, Any] = {"base_area_fraction": {k: round(v, 4) for k, v in base.items()}}
    fmt = (asset.provenance.format if asset.provenance else "").split(":")[-1]
    standing = category.placement in ("floor", "table")
    if fmt == "stl":
        if standing and base["-Y"] >= STRONG_BASE and base["-Z"] < NO_BASE:
            evidence["reason"] = "STL defaults to +Z up, but the flat base lies under -Y and none under -Z"
            return "+Y", "geometry", evidence
        evidence["reason"] = "STL files are +Z up by the CAD / 3D-printing convention"
        return "+Z", "format-convention", evidence
    if standing and base["-Y"] < NO_BASE and base["-Z"] >= STRONG_BASE:
        evidence["reason"] = f"no flat base under -Y, a flat base of {base['-Z']:.1%} of the area under -Z"
        return "+Z", "geometry", evidence
    evidence["reason"] = "kept +Y (glTF convention): no strong evidence for another up axis"
    return "+Y", "assumed", evidence


def support_fractions(asset: Asset) -> dict[str, float]:
    """For -Y and -Z: the fraction of the surface area whose triangles lie on the bottom plane along that
    direction (within 0.5% of the extent) and face down it (within 15 degrees)."""
    lo, hi = asset.bounds()
    band = lo + 0.005 * (hi - lo)
    cos_limit = math.cos(math.radians(15))
    on_base = {"-Y": 0.0, "-Z": 0.0}
    surfaces: list[tuple[np.ndarray, np.ndarray]] = []
    for _, mesh, world in asset.mesh_instances():
        for prim in mesh.primitives:
            if prim.mode != "triangles" or prim.indices is None or len(prim.indices) == 0:
                continue
            p = prim.positions
            if not np.array_equal(world, IDENTITY):
                p = _transformed(p, world[:3, :3], world[:3, 3]).astype(np.float32)
            faces = prim.indices
            surfaces.append((p, faces))
            for name, axis in (("-Y", 1), ("-Z", 2)):
                low = p[:, axis] <= band[axis]
                # Few triangles lie on the bottom plane: test the first corner of all, the others of those.
                candidates = np.flatnonzero(low[faces[:, 0]])
                candidates = faces[candidates[low[faces[candidates, 1]] & low[faces[candidates, 2]]]]
                if len(candidates):
                    corners = p[candidates].astype(np.float64)
                    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
                    area = np.linalg.norm(cross, axis=1)
                    down = cross[:, axis] <= -cos_limit * area
                    on_base[name] += float(area[down].sum())
    if not any(on_base.values()):  # nothing lies flat on either bottom plane: no need for the total area
        return {"-Y": 0.0, "-Z": 0.0}
    total = sum(float(_triangle_areas(p, faces).sum()) for p, faces in surfaces)
    if total <= 0:
        return {"-Y": 0.0, "-Z": 0.0}
    return {name: value / total for name, value in on_base.items()}


def _triangle_cross(p: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a = p[faces[:, 0]]
    u, v = p[faces[:, 1]] - a, p[faces[:, 2]] - a
    return np.stack(
        [u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1], u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2], u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]],
        axis=1,
    )


def _triangle_areas(p: np.ndarray, faces: np.ndarray) -> np.ndarray:
    cross = _triangle_cross(p, faces)
    return np.sqrt(np.einsum("ij,ij->i", cross, cross))


def _rotation_to_y_up(up: str) -> np.ndarray:
    """A proper rotation taking the `up` axis to +Y. From +Z up it is the usual Z-up to Y-up turn
    (x, y, z) -> (x, z, -y), so the Z-up convention's front (-Y) becomes +Z."""
    return {
        "+Y": np.eye(3),
        "-Y": np.diag([1.0, -1.0, -1.0]),
        "+Z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),
        "-Z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
        "+X": np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]),
        "-X": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
    }[up]


def _front_rotation(front_after_up: np.ndarray, name: str) -> np.ndarray:
    """A turn about +Y taking the (already up-corrected) front direction to +Z."""
    if abs(front_after_up[1]) > 0.5:
        raise OptionError(f"front axis {name!r} is the up axis or its opposite; the front must be horizontal")
    angle = math.atan2(front_after_up[0], front_after_up[2])  # angle from +Z towards +X
    c, s = round(math.cos(angle)), round(math.sin(angle))
    return np.array([[c, 0.0, -s], [0, 1, 0], [s, 0, c]])


def _corners(bounds: np.ndarray) -> np.ndarray:
    return np.array([[bounds[i, 0], bounds[j, 1], bounds[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def _rotated_size(bounds: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    corners = _corners(bounds) @ rotation.T
    return corners.max(axis=0) - corners.min(axis=0)


# ---- unit ----------------------------------------------------------------------------------------


def _unit_name(scale: float, tolerance: float = 1e-6) -> str:
    for name, value in UNIT_SCALES.items():
        if abs(scale / value - 1) <= tolerance:
            return name
    return "unknown"


def _fits(size: float, category: Category) -> bool:
    lo, hi = category.size_range_m
    return lo <= size <= hi


def _decide_unit(
    asset: Asset, options: NormalizeOptions, category: Category, source_size: np.ndarray, warnings: list[str]
) -> dict[str, Any]:
    largest = float(source_size.max())
    if largest <= 0:
        raise InvalidGeometryError("the model has zero size: every vertex is at the same point")
    if options.unit is not None:
        name = parse_unit(options.unit)
        result = {"source_unit": name, "scale_to_m": UNIT_SCALES[name], "determined_by": "merchant"}
    elif options.dimensions is not None:
        target = np.asarray(options.dimensions, dtype=np.float64)
        if target.shape != (3,) or not (target > 0).all():
            raise OptionError(f"dimensions {options.dimensions!r}: expected three positive numbers (metres)")
        usable = source_size > largest * 1e-6  # a flat model has no depth to compare
        scale = float(np.exp(np.mean(np.log(target[usable] / source_size[usable]))))
        result = {"source_unit": _unit_name(scale, 0.03), "scale_to_m": scale, "determined_by": "merchant-dimensions"}
    elif asset.unit_scale is not None:
        scale = float(asset.unit_scale)
        result = {"source_unit": _unit_name(scale), "scale_to_m": scale, "determined_by": "file"}
    else:
        return _unit_from_category(largest, category, warnings)
    size = largest * result["scale_to_m"]
    result["plausible"] = _fits(size, category)
    if not result["plausible"]:
        lo, hi = category.size_range_m
        warnings.append(
            f"the model is {size:.3g} m at its largest, outside the plausible {lo:g}-{hi:g} m for a {category.name}; "
            f"check the unit ({result['determined_by']})"
        )
    return result


def _unit_from_category(largest: float, category: Category, warnings: list[str]) -> dict[str, Any]:
    """No stated unit: metres when that is a plausible size for the category, else the one unit that makes it
    plausible; none or several -> metres, flagged implausible."""
    if _fits(largest, category):
        return {"source_unit": "m", "scale_to_m": 1.0, "determined_by": "assumed", "plausible": True}
    fitting = [u for u in HEURISTIC_UNITS if u != "m" and _fits(largest * UNIT_SCALES[u], category)]
    if len(fitting) == 1:
        unit = fitting[0]
        warnings.append(
            f"no unit in the file: {largest:.4g} units is implausible in metres for a {category.name} and plausible "
            f"only in {unit} ({largest * UNIT_SCALES[unit]:.3g} m); converted from {unit}"
        )
        return {"source_unit": unit, "scale_to_m": UNIT_SCALES[unit], "determined_by": "category-heuristic", "plausible": True}
    lo, hi = category.size_range_m
    if fitting:
        options = ", ".join(f"{u} ({largest * UNIT_SCALES[u]:.3g} m)" for u in fitting)
        detail = f"it would be plausible in several units: {options}"
    else:
        detail = "no common unit makes it plausible"
    warnings.append(
        f"no unit in the file and {largest:.4g} units is not a plausible size for a {category.name} "
        f"({lo:g}-{hi:g} m) in metres; {detail}. Kept as metres: pass the unit or the real dimensions"
    )
    return {"source_unit": "unknown", "scale_to_m": 1.0, "determined_by": "assumed", "plausible": False}


def _dimension_mismatch(size_m: np.ndarray, target: np.ndarray, difference: np.ndarray) -> str:
    names = ("width", "height", "depth")
    parts = ", ".join(f"{n} {s:.3f} m vs {t:.3f} m ({d:+.0%})" for n, s, t, d in zip(names, size_m, target, difference, strict=True))
    message = f"the model's proportions disagree with the merchant dimensions by more than {MERCHANT_TOLERANCE:.0%}: {parts}"
    # A swapped pair of dimensions (W x D x H given for W x H x D) is the usual cause: say so when one fits.
    for perm in permutations(range(3)):
        if perm == (0, 1, 2):
            continue
        ratios = target[list(perm)] / size_m
        if np.abs(ratios / np.exp(np.mean(np.log(ratios))) - 1).max() <= MERCHANT_TOLERANCE:
            order = " x ".join(names[i] for i in perm)
            message += f"; they match if read as {order}"
            break
    return message


# ---- baking the correction into the roots --------------------------------------------------------


def _bake_into_roots(asset: Asset, correction: np.ndarray) -> list[str]:
    """Apply `correction` to the whole scene so every root ends with an identity matrix. Returns the names of
    roots that carry a light or camera and therefore keep the correction as their own matrix."""
    users: dict[int, int] = {}
    for node in asset.nodes:
        if node.mesh is not None:
            users[node.mesh] = users.get(node.mesh, 0) + 1
    kept: list[str] = []
    for root in asset.roots:
        node = asset.nodes[root]
        matrix = correction @ node.matrix
        if node.extensions or node.extras.get("camera") is not None:
            node.matrix = matrix
            kept.append(node.name or str(root))
            continue
        if node.mesh is not None:
            if users[node.mesh] > 1:  # drawn elsewhere with another transform: give this root its own copy
                users[node.mesh] -= 1
                asset.meshes.append(_copy_mesh(asset.meshes[node.mesh]))
                node.mesh = len(asset.meshes) - 1
            for prim in asset.meshes[node.mesh].primitives:
                transform_primitive(prim, matrix)
        for child in node.children:
            asset.nodes[child].matrix = matrix @ asset.nodes[child].matrix
        node.matrix = IDENTITY.copy()
    return kept


def _copy_mesh(mesh: Mesh) -> Mesh:
    return copy.deepcopy(mesh)


def transform_primitive(prim: Primitive, matrix: np.ndarray) -> None:
    """Bake an affine 4x4 into a primitive: positions affinely, normals by the inverse transpose, tangents by
    the linear part (handedness flipped with a mirror), triangle winding reversed when det < 0."""
    linear = matrix[:3, :3]
    det = float(np.linalg.det(linear))
    scale = abs(det) ** (1 / 3)
    if det > 0 and np.array_equal(linear, scale * np.eye(3)):
        # A uniform scale and a move (the usual correction: a unit, a bottom-centre origin, no turn): unit
        # normals and tangents stay as they are.
        prim.positions = (prim.positions.astype(np.float64) * scale + matrix[:3, 3]).astype(np.float32)
        return
    prim.positions = _transformed(prim.positions, linear, matrix[:3, 3]).astype(np.float32)
    if prim.normals is not None:
        normal_matrix = np.linalg.inv(linear).T if abs(det) > 1e-300 else linear
        prim.normals = _unit(_transformed(prim.normals, normal_matrix))
    if prim.tangents is not None:
        tangents = prim.tangents.astype(np.float64)
        xyz = _unit(_transformed(tangents[:, :3], linear))
        w = tangents[:, 3:4] * (1.0 if det >= 0 else -1.0)
        prim.tangents = np.concatenate([xyz, w], axis=1).astype(np.float32)
    if det < 0 and prim.indices is not None:
        prim.indices = np.ascontiguousarray(prim.indices[:, ::-1])


def _transformed(v: np.ndarray, linear: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """`v @ linear.T + offset` in float64, column by column: a BLAS product of an (N, 3) array by a 3x3 starts
    BLAS threads that only contend with the pipeline's own (several times slower on a busy 2-core machine)."""
    v = np.asarray(v, dtype=np.float64)
    out = np.empty((len(v), 3))
    for i in range(3):
        out[:, i] = v[:, 0] * linear[i, 0] + v[:, 1] * linear[i, 1] + v[:, 2] * linear[i, 2]
        if offset is not None:
            out[:, i] += offset[i]
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    length = np.sqrt(np.einsum("ij,ij->i", v, v))[:, None]
    return np.divide(v, length, out=np.zeros_like(v), where=length > 0).astype(np.float32)
