"""Real scans as Assets for the geometry-stage tests: through the project's own readers when they are
importable, else read directly with open3d (PLY) / trimesh (OBJ). Parsed once per session; every call returns
a fresh copy, since stages change assets in place."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from asset_pipeline.asset import Asset, Provenance, single_mesh_asset
from tests.conftest import scan_path


def load_scan(name: str) -> Asset:
    return _load(str(scan_path(name))).copy()


@lru_cache(maxsize=None)
def _load(path: str) -> Asset:
    try:
        from asset_pipeline.io import read_path

        return read_path(path)
    except ImportError:  # that format's reader is not written yet
        pass
    if path.endswith(".ply"):
        import open3d as o3d

        mesh = o3d.io.read_triangle_mesh(path)
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
    else:
        import trimesh

        mesh = trimesh.load(path, process=False, force="mesh")
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    asset = single_mesh_asset(vertices, faces, name=path.rsplit("/", 1)[-1])
    asset.provenance = Provenance(filename=path.rsplit("/", 1)[-1], sha256="", size_bytes=0, format=path.rsplit(".", 1)[-1])
    return asset
