"""Virtual try-on: MediaPipe tracking (tracking.py, models from models.py), the fit math that turns landmarks
into per-category product transforms and face measurements (fit.py, no MediaPipe import), and temporal
smoothing for live streams (smoothing.py)."""
