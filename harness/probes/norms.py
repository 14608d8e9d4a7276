"""Probe of the normalisation epsilon: the eps the modules use against the configs that set it.

The modules' eps is compared with the subject's config.json and with the reference checkpoint's
config (the trusted source of the same weights): a mismatch with either is the condition. The
forward sensitivity (the share of each norm's denominator ``mean(x²) + eps`` that eps makes up
on real tokens) is measured beside it: with a sane eps it is a rounding error, with a wrong one
eps dominates and every normalised activation shrinks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.evidence import Evidence
from harness.probes.context import ProbeContext
from harness.probes.registry import Finding, InterventionError, intervention, probe
from harness.probes.tensors import NORM_EPS_KEYS, config_value, norm_modules, set_norm_eps

__all__ = ["eps_shares", "norm_eps", "restore_norm_eps"]


def _config_eps(model: Any) -> float | None:
    found = config_value(model.config, *NORM_EPS_KEYS)
    return None if found is None or not isinstance(found[1], int | float) else float(found[1])


def eps_shares(model: Any, ids: np.ndarray) -> dict[str, float]:
    """Per norm layer, the median over positions of eps / (mean(x²) + eps) (torch models)."""
    norms = norm_modules(model)
    shares: dict[str, float] = {}

    def hook(name: str, eps: float) -> Any:
        def record(_: Any, args: tuple[Any, ...]) -> None:
            ms = args[0].float().pow(2).mean(-1)
            shares[name] = float((eps / (ms + eps)).median())

        return record

    handles = [m.register_forward_pre_hook(hook(n, float(getattr(m, a)))) for n, m, a in norms]
    try:
        model.logits(ids)
    finally:
        for handle in handles:
            handle.remove()
    return shares


@probe("norm_eps")
def norm_eps(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Do the norm layers use the eps of the config, and the config that of the reference?"""
    model = ctx.model()
    norms = norm_modules(model)
    if not norms:
        found_in = type(model.module).__name__
        return Finding.inconclusive(f"no normalisation layer found in {found_in}")
    used = sorted({float(getattr(m, attr)) for _, m, attr in norms})
    config_eps = _config_eps(model)
    reference = ctx.reference()
    reference_eps = None if reference is None else _config_eps(reference)
    evidence.measure("norm_layers", len(norms), unit="count")
    evidence.measure("modules_eps_min", used[0], unit="1")
    evidence.measure("modules_eps_max", used[-1], unit="1")
    for name, value in (("config_eps", config_eps), ("reference_config_eps", reference_eps)):
        if value is not None:
            evidence.measure(name, value, unit="1")
    if model.backend == "torch":
        shares = eps_shares(model, ctx.tokens())
        evidence.measure("max_eps_share", max(shares.values()), unit="ratio")
        evidence.attach("eps_share", {"x": list(range(len(shares))), "norms": list(shares),
                                      "series": {"eps share": list(shares.values())}})
    return _decide(used, config_eps, reference_eps)


def _decide(used: list[float], config_eps: float | None,
            reference_eps: float | None) -> Finding:
    if config_eps is None:
        return Finding.inconclusive(f"config.json sets none of {', '.join(NORM_EPS_KEYS)}: the "
                                    f"modules' eps ({used}) cannot be checked")
    if used != [config_eps]:
        return Finding.confirmed(f"the norm layers use eps {used} but config.json says "
                                 f"{config_eps:g}: the modules were built with another eps")
    if reference_eps is not None and reference_eps != config_eps:
        return Finding.confirmed(f"config.json sets eps {config_eps:g} but the reference "
                                 f"checkpoint's config says {reference_eps:g}")
    checked = "config.json" + (" and the reference's config" if reference_eps is not None else "")
    return Finding.refuted(f"every norm layer uses eps {config_eps:g}, as {checked} says")


@intervention("restore_norm_eps")
def restore_norm_eps(ctx: ProbeContext) -> str:
    """Set every norm layer's eps to the reference's config (else the subject's own config)."""
    model = ctx.model()
    reference = ctx.reference()
    target = (_config_eps(reference) if reference is not None else None) or _config_eps(model)
    if target is None:
        msg = "neither the reference's config nor the subject's sets a norm eps to restore"
        raise InterventionError(msg)
    used = sorted({float(getattr(m, a)) for _, m, a in norm_modules(model)})
    if used == [target]:
        msg = f"every norm layer already uses eps {target:g}: nothing to restore"
        raise InterventionError(msg)
    n = set_norm_eps(model, target)
    return f"set eps of {n} norm layer(s) from {used} to {target:g}"
