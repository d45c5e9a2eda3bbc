"""Drift monitoring: Evidently reports comparing a batch with the champion's reference set, and
the retrain decision the monitor pipeline branches on.

The heavy imports (Evidently, Feast) happen inside the functions, so importing this package is
cheap for the CLI and for pipeline compilation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affectgpt.monitor.summary import DriftSummary


def drift_report(reference, current, out_dir, config_path=None) -> DriftSummary:
    """See affectgpt.monitor.report.drift_report."""
    from affectgpt.monitor.report import drift_report as _drift_report

    return _drift_report(reference, current, out_dir, config_path=config_path)


__all__ = ["drift_report"]
