"""Hypothesis probes and interventions (tied weights, layout, norm eps, residual stream, q/k/v
biases, corpus sanity), and the registries contracts name them by.

    from harness.probes import Finding, probe, intervention

    @probe("my_condition")
    def my_condition(ctx, evidence):      # ctx: ProbeContext, evidence: harness.evidence.Evidence
        evidence.measure("something", 3, unit="count")
        return Finding.confirmed("why, in words")

Importing this package imports neither torch nor mlx.
"""

from harness.probes.context import ProbeContext
from harness.probes.registry import (
    INTERVENTIONS,
    PROBES,
    Finding,
    InterventionError,
    ProbeUnsupported,
    RegistryError,
    get_intervention,
    get_probe,
    intervention,
    load_modules,
    probe,
)

__all__ = [
    "INTERVENTIONS",
    "PROBES",
    "Finding",
    "InterventionError",
    "ProbeContext",
    "ProbeUnsupported",
    "RegistryError",
    "get_intervention",
    "get_probe",
    "intervention",
    "load_modules",
    "probe",
]
