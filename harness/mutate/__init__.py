"""Mutation testing of the falsifiers (``falsify mutate``).

A negative control shows that a falsifier can fail on one known-bad subject. Mutation testing
asks more: apply a library of realistic defects to a claim's contract (drop a guard, negate a
comparison), to what its falsifier recorded (nats labelled bits, a rate with n = 0) and to its
live inputs (half the eval set, NaN rows, pairs shuffled across utterances, nothing at all), and
report every mutant the claim still PASSes. A surviving mutant is either a missing guard or a
limitation the contract documents under ``mutation: {limitations: [{mutant, why}]}``.

Guarantees: a mutant's own falsifier runs go to scratch ledgers and are never a claim's
evidence; the ledger gets one ``mutation`` record per claim (its score and every mutant's
outcome), which the evidence READMEs render.
"""

from harness.mutate.operators import Layer, Mutant, contract_mutants, measurement_mutants
from harness.mutate.run import MutantResult, MutationReport, Outcome, mutate_claim

__all__ = [
    "Layer",
    "Mutant",
    "MutantResult",
    "MutationReport",
    "Outcome",
    "contract_mutants",
    "measurement_mutants",
    "mutate_claim",
]
