"""Scan or model in, validated web-AR bundle out: optimized GLB + LODs + USDZ + poster + metadata + report.

    from asset_pipeline import optimize
    bundle = optimize(open("chair.obj", "rb").read(), "web-ar", filename="chair.obj", unit="cm")
    bundle.write("out/")
"""

__version__ = "0.1.0"

from .errors import PipelineError  # noqa: E402
from .metadata import Bundle, Metadata, Report  # noqa: E402
from .pipeline import optimize  # noqa: E402

__all__ = ["optimize", "Bundle", "Metadata", "Report", "PipelineError", "__version__"]
