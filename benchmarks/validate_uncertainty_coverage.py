"""Coverage of the uncertainty intervals and calibration of the overshoot probability on virtual
patients whose simulation draws the error sources of the budget.

Each virtual patient has 6 cycles; each cycle two kidneys with a true mono-exponential curve
(A0, T_eff varying between cycles by ``next_cycle_variability``), true masses and the true S value.
The "measured" activities carry the errors of ``analysis.uncertainty`` (count noise and planar
reproducibility per scan, a SPECT level and dead time per cycle, a recovery error and a mass error
per kidney-cycle, a camera-calibration and an S-value error per patient). The chain fits the
measured curves, the error model gives u and the 95 %/68 % intervals; we count how often they hold
the true TIA, dose and cumulative BED, and bin the predicted P(cumulative BED after the next cycle
> 29 Gy) against the observed frequency (truth of the next cycle).

What this shows: the simulation draws the *same* error model the analysis assumes, so coverage
here is agreement by construction for the error model — it is evidence only that the propagation
(fit linearisation, shared terms, covariance between cycles, BED nonlinearity, prediction) is
carried out correctly, not that the default uncertainties are right for a real camera.

Run: .venv/bin/python benchmarks/validate_uncertainty_coverage.py [--patients 150] [--seed 1]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _machine import machine

from iluminet.config.params import load_parameters
from iluminet.patient import dosimetry, kinetics, radiobiology
from iluminet.patient.chain import KidneyFit
from iluminet.patient.planning import Protocol
from iluminet.uncertainty.budget import Budget
from iluminet.uncertainty.decision import analytic_probabilities
from iluminet.uncertainty.model import build_error_model
from iluminet.uncertainty.propagation import propagate_analytic

TIMES_H = np.array([4.0, 24.0, 96.0, 168.0])
N_CYCLES = 6


def simulate_patient(rng: np.random.Generator, budget: Budget, protocol: Protocol):
    rel = budget.relative
    cam, s_err = rng.standard_normal(2)
    base_a0 = rng.uniform(60, 140, 2)
    base_teff = rng.uniform(35, 70, 2)
    base_mass = rng.uniform(110, 210, 2)
    fits, masses, truth = [], {}, {}
    for c in range(1, N_CYCLES + 1):
        spect, dead, admin, uptake = rng.standard_normal(4)
        var = budget.next_cycle_variability
        for k, kidney in enumerate(("left", "right")):
            # the cycle's true uptake (both kidneys) varies about the patient's own level, and the
            # administered activity about its nominal value (one dose-calibrator error per
            # administration), as next_cycle_variability and administered_activity assume
            a0 = base_a0[k] * math.exp(var * uptake + budget.administered_activity * admin)
            t_eff = base_teff[k]
            lam = math.log(2) / t_eff
            true_a = a0 * np.exp(-lam * TIMES_H)
            shared = (rel["spect_level"] * spect + rel["dead_time"] * dead
                      + rel["recovery"] * rng.standard_normal() + rel["camera_calibration"] * cam)
            per_scan = (rel["count_statistics"] * rng.standard_normal(TIMES_H.size)
                        + rel["planar_sensitivity"] * rng.standard_normal(TIMES_H.size))
            measured = true_a * np.exp(shared + per_scan)
            mass_true = base_mass[k]
            masses[(c, kidney)] = mass_true * math.exp(rel["kidney_mass"] * rng.standard_normal())
            fitter = kinetics.fit_time_activity(TIMES_H, measured, model="mono")
            fits.append(KidneyFit(c, kidney, TIMES_H, measured, np.ones(4, bool), fitter))
            tia = a0 / lam
            dose = tia * dosimetry.kidney_s_value_mgy_per_mbq_h(mass_true) / 1000.0 \
                * math.exp(rel["s_value_model"] * s_err)
            bed = float(radiobiology.bed_monoexponential(dose, t_eff, protocol.alpha_beta_gy,
                                                         protocol.repair_half_time_h))
            truth[(c, kidney)] = (tia, dose, bed)
    return fits, masses, truth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(machine())
    params = load_parameters()
    protocol = Protocol.from_parameters(params["protocol"])
    budget = Budget.from_config(params["analysis"]["uncertainty"])
    rng = np.random.default_rng(args.seed)
    hits: dict[str, list[tuple[bool, bool]]] = {"tia": [], "dose": [], "cumulative_bed": []}
    reliability: list[tuple[float, bool]] = []
    top = protocol.step1_bed_limit_gy + protocol.step1_tolerance_gy
    for _ in range(args.patients):
        fits, masses, truth = simulate_patient(rng, budget, protocol)
        cycles = list(range(1, N_CYCLES + 1))
        model = build_error_model(fits, masses, {}, cycles, cycles, budget=budget,
                                  alpha_beta_gy=protocol.alpha_beta_gy,
                                  repair_half_time_h=protocol.repair_half_time_h,
                                  phantom="adult_male", kidney_for_decision="mean")
        result = propagate_analytic(model)
        for name, key, pos in (("tia", "tia_mbq_h", 0), ("dose", "dose_gy", 1)):
            value, sd = result.value[key], result.sd(key)
            for k, kc in enumerate(model.kidney_cycles):
                err = abs(value[k] - truth[(kc.cycle, kc.kidney)][pos])
                hits[name].append((err <= 1.959964 * sd[k], err <= sd[k]))
        true_cycle_bed = np.array([np.mean([truth[(c, kid)][2] for kid in ("left", "right")])
                                   for c in cycles])
        true_cum = np.cumsum(true_cycle_bed)
        value, sd = result.value["cumulative_bed_gy"], result.sd("cumulative_bed_gy")
        for c in (2, 4, 6):  # a few cycles per patient, not every (correlated) one
            err = abs(value[c - 1] - true_cum[c - 1])
            hits["cumulative_bed"].append((err <= 1.959964 * sd[c - 1], err <= sd[c - 1]))
        from iluminet.patient.planning import BedCovariance

        cov = BedCovariance(result.covariance("cycle_bed_gy"), budget.future_relative_sd)
        for k in (3, 4, 5):
            sub = BedCovariance(cov.covariance_gy2[:k, :k], cov.future_relative_sd)
            probs = analytic_probabilities(result.value["cycle_bed_gy"][:k], sub,
                                           protocol.step1_bed_limit_gy,
                                           protocol.step1_tolerance_gy, protocol.bed_prediction)
            reliability.append((probs.p_overshoot, bool(true_cum[k] > top)))
    for name, rows in hits.items():
        arr = np.array(rows)
        print(f"{name}: n = {len(arr)}, 95 % interval covers {100 * arr[:, 0].mean():.1f} %, "
              f"68 % interval {100 * arr[:, 1].mean():.1f} %")
    p = np.array([r[0] for r in reliability])
    o = np.array([r[1] for r in reliability])
    edges = np.linspace(0, 1, 6)
    print(f"overshoot probability (P(cumulative BED after the next cycle > {top:g} Gy)), "
          f"n = {p.size} decisions:")
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p < hi) if hi < 1 else (p >= lo) & (p <= hi)
        if sel.sum():
            flag = "" if sel.sum() >= 30 else " (fewer than 30)"
            print(f"  predicted {lo:.1f}–{hi:.1f}: n = {sel.sum():4d}, mean predicted "
                  f"{p[sel].mean():.3f}, observed {o[sel].mean():.3f}, difference "
                  f"{o[sel].mean() - p[sel].mean():+.3f}{flag}")


if __name__ == "__main__":
    main()
