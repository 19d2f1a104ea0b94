"""Product categories: where a product is placed in AR, which try-on kind it is, and what real size is
plausible (used to detect a missing unit and to flag implausible sizes; never to guess silently).

Sizes are the largest bounding-box dimension in metres, a generous range for real products."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    placement: str  # floor | wall | table | face | head | ear | neck | wrist | finger
    size_range_m: tuple[float, float]
    tryon: bool = False


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in [
        Category("generic", "table", (0.01, 5.0)),
        Category("furniture", "floor", (0.2, 5.0)),
        Category("chair", "floor", (0.3, 1.6)),
        Category("sofa", "floor", (0.6, 4.0)),
        Category("table", "floor", (0.3, 4.0)),
        Category("lamp", "floor", (0.1, 2.5)),
        Category("decor", "table", (0.02, 1.5)),
        Category("vase", "table", (0.05, 1.2)),
        Category("art", "wall", (0.05, 3.0)),
        Category("mirror", "wall", (0.1, 3.0)),
        Category("shoes", "floor", (0.1, 0.5)),
        Category("bag", "table", (0.1, 1.0)),
        Category("electronics", "table", (0.03, 2.0)),
        Category("helmet", "table", (0.15, 0.5)),
        Category("glasses", "face", (0.10, 0.20), tryon=True),
        Category("sunglasses", "face", (0.10, 0.20), tryon=True),
        Category("hat", "head", (0.15, 0.6), tryon=True),
        Category("earrings", "ear", (0.005, 0.12), tryon=True),
        Category("necklace", "neck", (0.05, 0.6), tryon=True),
        Category("ring", "finger", (0.012, 0.04), tryon=True),
        Category("watch", "wrist", (0.03, 0.3), tryon=True),
        Category("bracelet", "wrist", (0.04, 0.12), tryon=True),
        Category("lipstick", "face", (0.04, 0.12), tryon=True),
    ]
}

PLACEMENTS = ("floor", "wall", "table", "face", "head", "ear", "neck", "wrist", "finger")


def get_category(name: str | None) -> Category:
    from .errors import OptionError

    key = (name or "generic").strip().lower()
    if key not in CATEGORIES:
        raise OptionError(f"unknown category {name!r}; known: {', '.join(sorted(CATEGORIES))}")
    return CATEGORIES[key]
