"""The quality report (report.json): the Khronos glTF-Validator's verdict on every GLB, our commerce checks
on the optimized asset, and pass/fail per publishing target.

- `validator.run_validator` runs the official validator (node + npm `gltf-validator`);
- `commerce.commerce_checks` measures what the 3D Commerce guidelines ask of a product model;
- `targets.evaluate_targets` turns both into a verdict per platform (3DC mobile AR, Shopify, Google
  Merchant Center, Amazon, Apple Quick Look), naming every requirement that failed."""

from __future__ import annotations

from ..asset import Asset
from ..metadata import CheckResult, Metadata, Report, ValidatorResult
from ..profiles import Profile
from .commerce import commerce_checks
from .targets import evaluate_targets


def validator_check(validator: list[ValidatorResult]) -> CheckResult:
    """One line for the Khronos validator's results over all GLBs of the bundle."""
    if not validator:
        return CheckResult(id="khronos_validator", passed=False, severity="warning", message="no GLB was validated", value=None)
    not_run = [v for v in validator if not v.ran]
    if not_run:
        return CheckResult(
            id="khronos_validator",
            passed=False,
            severity="warning",
            message=f"validator not run on {len(not_run)} of {len(validator)} GLB(s): {not_run[0].reason}",
            value=None,
        )
    counts = {v.file: {"errors": v.errors, "warnings": v.warnings} for v in validator}
    errors = sum(v.errors for v in validator)
    warnings = sum(v.warnings for v in validator)
    bad = [v.file for v in validator if v.errors]
    return CheckResult(
        id="khronos_validator",
        passed=errors == 0,
        severity="error",
        message=(
            f"{len(validator)} GLB(s) valid ({warnings} warning(s))"
            if errors == 0
            else f"{errors} validator error(s) in {', '.join(bad)}"
        ),
        value=counts,
    )


def build_report(
    asset_id: str,
    asset: Asset,
    metadata: Metadata,
    files: dict[str, bytes],
    validator: list[ValidatorResult],
    profile: Profile,
) -> Report:
    """report.json for a bundle: validator results, commerce checks and publishing targets."""
    checks = [validator_check(validator), *commerce_checks(asset, metadata, files, profile=profile)]
    return Report(
        asset_id=asset_id,
        validator=validator,
        checks=checks,
        targets=evaluate_targets(metadata, files, checks, validator),
    )
