"""Kidney time-activity curves: model fits, time-integrated activity and simple fallbacks.

One kidney at a time. Times are hours after the end of administration, activities are calibrated
kidney activities in MBq (decay *not* corrected: the fitted decay constants are effective ones,
biological clearance plus physical decay).

Models
------
mono-exponential (default)
    A(t) = A0 · exp(−λ t),   TIA = ∫₀^∞ A dt = A0 / λ,   T_eff = ln 2 / λ.
    Instant uptake; the usual model for 177Lu-DOTATATE kidney data from 24 h on.
bi-exponential uptake + clearance
    A(t) = A0 · (exp(−λc t) − exp(−λu t)),  λu > λc > 0,
    TIA = A0 · (1/λc − 1/λu),  T_eff = ln 2 / λc (clearance), uptake half-life ln 2 / λu.

Fitting and weighting
---------------------
Both models are fitted by nonlinear least squares (``scipy.optimize.least_squares``) on the
*logarithm* of the activity, i.e. the residuals are r_i = √w_i · (ln y_i − ln A(t_i)).
Quantified activities have errors roughly proportional to the activity (calibration, recovery and
segmentation errors are relative), so the default is equal weights in log space, which is the
same as relative (1/A²) weights to first order: a 10 % error at 168 h counts as much as a 10 % error
at 1 h. For the mono-exponential model this is ordinary linear regression of ln A on t. If
standard deviations ``activity_sd_mbq`` are given, w_i = (y_i / sd_i)² (the SD of ln y is sd/y).

Parameters are estimated in a transformed space that keeps the fit stable and the model
physical-looking: θ = (ln A0, λ) for the mono-exponential model (λ unconstrained, so a rising
curve is *detected*, not hidden) and θ = (ln A0, ln λc, ln(λu − λc)) for the bi-exponential model
(which enforces λu > λc > 0), with bounds on the rate constants. Starting values come from a
log-linear fit of the points from the maximum onwards, and the bi-exponential fit is started from
several uptake half-lives; the start with the lowest cost wins.

Uncertainty
-----------
cov(θ) = s² (JᵀJ)⁻¹ with J the Jacobian of the weighted residuals at the optimum.

* Without ``activity_sd_mbq`` the residual variance is unknown and estimated,
  s² = Σ r_i² / (n − p); intervals then use Student's t with n − p degrees of freedom
  (``ci_quantile``). With only 4 points and 2 parameters that is t₂: the 95 % interval is
  ± 4.30 SE, not ± 1.96 SE — anything else under-covers badly.
* With ``activity_sd_mbq`` the SDs are taken as absolute (s² = 1) and intervals use the normal
  distribution; ``chi2_`` is then a real χ² with n − p degrees of freedom.

Standard errors of the TIA, of the natural parameters and of the effective half-life follow from
cov(θ) by the delta method (first-order propagation through the closed forms above).

Model selection
---------------
``aicc_`` = n ln(RSS/n) + 2K + 2K(K+1)/(n − K − 1) with RSS the weighted residual sum of squares in
log space and K the number of curve parameters (with absolute SDs χ² replaces n ln(RSS/n)). AICc
needs n ≥ K + 2 points; with fewer it is +∞, so with the 4-point ILUMINET schedule the
3-parameter model is never chosen by ``model="auto"`` — one residual degree of freedom cannot
support it.

Flags
-----
A fit never raises on valid data. Everything that makes its result unfit for a treatment decision
is reported as a human-readable string in ``flags_`` (empty list: OK): no convergence, parameters
at a bound or not identifiable, an effective half-life longer than the physical half-life of 177Lu
or a rising tail ("non-physical"), a relative TIA standard error above ``max_relative_tia_se``.
Invalid data (wrong lengths, times ≤ 0, repeated or unsorted times, activities ≤ 0 or not finite)
raise :class:`iluminet.errors.InputError` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, optimize

from iluminet.errors import InputError
from iluminet.nuclide import LU177, Nuclide

__all__ = [
    "BiExponentialFitter",
    "MonoExponentialFitter",
    "TrapezoidResult",
    "fit_time_activity",
    "hanscheid_tia",
    "trapezoid_tia",
    "validate_time_activity",
]

LN2 = math.log(2.0)
DEFAULT_SOURCE = "kidney time-activity data"

# Bounds on rate constants in the bi-exponential fit (half-lives in h). A clearance half-life
# above 10⁵ h or an uptake half-life below 0.01 h cannot be told apart from "no clearance" or
# "instant uptake" with imaging from 1 h to a week; a fit that ends at a bound is flagged.
_MIN_HALF_LIFE_H = 0.01
_MAX_HALF_LIFE_H = 1.0e5


FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_float_array(values: ArrayLike, name: str, source: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"expected numbers, got {values!r} ({exc})", source=source,
                         field=name) from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"expected a one-dimensional sequence, got shape {arr.shape}",
                         source=source, field=name)
    return arr


def validate_time_activity(
    time_h: ArrayLike,
    activity_mbq: ArrayLike,
    activity_sd_mbq: ArrayLike | None = None,
    *,
    min_points: int = 2,
    source: str | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Check a time-activity series and return it as float arrays.

    Times must be finite, strictly after administration (t > 0 h) and strictly increasing: the
    series is not re-sorted, because an unsorted table usually means mixed-up rows, and a repeated
    time is an error (two measurements of the same time point must be combined before fitting).
    Activities (and SDs, if given) must be finite and > 0.

    Parameters
    ----------
    time_h, activity_mbq
        Time after administration (h) and kidney activity (MBq), same length.
    activity_sd_mbq
        Optional standard deviations of the activities (MBq).
    min_points
        Smallest number of time points accepted.
    source
        Name of the table or file the data come from, used in error messages.

    Raises
    ------
    InputError
        With ``field`` set to ``"time_h"``, ``"activity_mbq"`` or ``"activity_sd_mbq"``.
    """
    src = source or DEFAULT_SOURCE
    t = _as_float_array(time_h, "time_h", src)
    y = _as_float_array(activity_mbq, "activity_mbq", src)
    if t.size != y.size:
        raise InputError(f"time_h has {t.size} values but activity_mbq has {y.size}; "
                         "expected one activity per time point", source=src, field="activity_mbq")
    if t.size < min_points:
        raise InputError(f"{t.size} time point(s) given; at least {min_points} are needed",
                         source=src, field="time_h")
    if not np.all(np.isfinite(t)):
        raise InputError(f"times must be finite numbers of hours, got {t.tolist()}",
                         source=src, field="time_h")
    if np.any(t <= 0.0):
        raise InputError(f"times must be > 0 h after administration, got {t.tolist()}",
                         source=src, field="time_h")
    dt = np.diff(t)
    if np.any(dt == 0.0):
        dup = sorted({float(v) for v in t[1:][dt == 0.0]})
        raise InputError(f"time point(s) {dup} h appear more than once; combine repeated "
                         "measurements before fitting", source=src, field="time_h")
    if np.any(dt < 0.0):
        raise InputError(f"times must be strictly increasing (rows are not re-sorted), got "
                         f"{t.tolist()}", source=src, field="time_h")
    if not np.all(np.isfinite(y)) or np.any(y <= 0.0):
        raise InputError(f"activities must be finite and > 0 MBq, got {y.tolist()}",
                         source=src, field="activity_mbq")
    sd: FloatArray | None = None
    if activity_sd_mbq is not None:
        sd = _as_float_array(activity_sd_mbq, "activity_sd_mbq", src)
        if sd.size != y.size:
            raise InputError(f"activity_sd_mbq has {sd.size} values but activity_mbq has "
                             f"{y.size}", source=src, field="activity_sd_mbq")
        if not np.all(np.isfinite(sd)) or np.any(sd <= 0.0):
            raise InputError(f"standard deviations must be finite and > 0 MBq, got "
                             f"{sd.tolist()}", source=src, field="activity_sd_mbq")
    return t, y, sd


def _check_positive_scalar(value: float, name: str, source: str | None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}", source=source, field=name) from None
    if not math.isfinite(v) or v <= 0.0:
        raise InputError(f"expected a finite number > 0, got {value!r}", source=source, field=name)
    return v


# --------------------------------------------------------------------------------------------
# Fitters
# --------------------------------------------------------------------------------------------


class _LogSpaceFitter:
    """Shared machinery: weighted least squares on ln A, covariance, TIA and flags."""

    model_name: str = ""
    _param_names: tuple[str, ...] = ()
    _theta: FloatArray | None = None
    #: AICc of every candidate model, set by :func:`fit_time_activity` with ``model="auto"``
    aicc_by_model_: dict[str, float]

    def __init__(self, *, nuclide: Nuclide = LU177,
                 max_relative_tia_se: float | None = None) -> None:
        self.nuclide = nuclide
        self.max_relative_tia_se = max_relative_tia_se
        self._fitted = False

    # ---- model-specific pieces (overridden) --------------------------------------------------
    @property
    def n_params(self) -> int:
        return len(self._param_names)

    def _log_model(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _log_model_jac(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _bounds(self) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    def _initial_guesses(self, t: FloatArray, y: FloatArray,
                         sqrt_w: FloatArray) -> list[FloatArray]:
        raise NotImplementedError

    def _natural(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Natural parameters and their Jacobian d(natural)/dθ."""
        raise NotImplementedError

    def _clearance_rate(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """Terminal (clearance) rate constant λ (1/h) and dλ/dθ."""
        raise NotImplementedError

    def _tia(self, theta: FloatArray) -> tuple[float, FloatArray]:
        """TIA = ∫₀^∞ A dt (MBq·h) and dTIA/dθ; NaN when the integral diverges."""
        raise NotImplementedError

    def _tail_integral(self, theta: FloatArray, t_last_h: float) -> float:
        """∫ from t_last_h to ∞ of the fitted curve (MBq·h); finite λ > 0 assumed."""
        raise NotImplementedError

    def _extra_flags(self, theta: FloatArray) -> list[str]:
        return []

    # ---- public API ---------------------------------------------------------------------------
    def fit(self, time_h: ArrayLike, activity_mbq: ArrayLike,
            activity_sd_mbq: ArrayLike | None = None, *,
            source: str | None = None) -> Self:
        """Fit the model to one kidney's time-activity data.

        Parameters
        ----------
        time_h
            Times after administration (h), strictly increasing, > 0.
        activity_mbq
            Kidney activities (MBq), > 0.
        activity_sd_mbq
            Optional absolute standard deviations (MBq). If omitted, errors are taken as relative
            with a common, estimated variance (see the module docstring).
        source
            Name of the table the data come from (for error messages).

        Returns
        -------
        self
            With the results in the trailing-underscore attributes.

        Raises
        ------
        InputError
            Invalid data, or fewer than ``n_params + 1`` time points (one residual degree of
            freedom is the least that gives any check of the fit and any uncertainty estimate).
        """
        t, y, sd = validate_time_activity(time_h, activity_mbq, activity_sd_mbq,
                                          min_points=self.n_params + 1, source=source)
        self.source_ = source or DEFAULT_SOURCE
        self.excluded_time_h_: list[float] = []
        flags: list[str] = []
        if getattr(self, "from_peak", False):
            peak = int(np.argmax(y))
            self.excluded_time_h_ = [float(v) for v in t[:peak]]
            t, y = t[peak:], y[peak:]
            sd = None if sd is None else sd[peak:]
            if t.size < self.n_params + 1:
                self.time_h_, self.activity_mbq_, self.activity_sd_mbq_ = t, y, sd
                self._set_nan_results()
                self.flags_ = [f"fit impossible: only {t.size} point(s) at or after the maximum "
                               f"activity (at {t[0]:g} h); {self.n_params + 1} are needed"]
                self.n_obs_, self.df_resid_ = int(t.size), int(t.size) - self.n_params
                self.absolute_sigma_ = sd is not None
                self._fitted = True
                return self
        self.time_h_ = t
        self.activity_mbq_ = y
        self.activity_sd_mbq_ = sd
        self.n_obs_ = int(t.size)
        self.df_resid_ = self.n_obs_ - self.n_params
        self.absolute_sigma_ = sd is not None
        log_y = np.log(y)
        sqrt_w = np.ones_like(y) if sd is None else y / sd
        lower, upper = self._bounds()

        def residuals(theta: FloatArray) -> FloatArray:
            return sqrt_w * (log_y - self._log_model(t, theta))

        def jac(theta: FloatArray) -> FloatArray:
            return -sqrt_w[:, None] * self._log_model_jac(t, theta)

        best: optimize.OptimizeResult | None = None
        errors: list[str] = []
        for x0 in self._initial_guesses(t, y, sqrt_w):
            # least_squares needs a start strictly inside finite bounds
            span = np.where(np.isfinite(upper - lower), upper - lower, 1.0)
            x0 = np.clip(x0, lower + 1e-9 * span, upper - 1e-9 * span)
            try:
                with np.errstate(over="ignore", under="ignore", invalid="ignore",
                                 divide="ignore"):
                    res = optimize.least_squares(
                        residuals, x0, jac=jac, bounds=(lower, upper), method="trf",
                        x_scale="jac", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=5000)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                errors.append(str(exc))
                continue
            if not np.all(np.isfinite(res.fun)):
                errors.append("residuals not finite at the solution")
                continue
            if best is None or res.cost < best.cost:
                best = res

        self._set_nan_results()
        if best is None:
            why = "; ".join(sorted(set(errors))) or "no start point gave a finite result"
            flags.append(f"fit failed: the optimiser found no solution ({why})")
            self.flags_ = flags
            self._fitted = True
            return self
        if best.status <= 0:
            flags.append(f"fit did not converge: {best.message}")

        theta = np.asarray(best.x, dtype=float)
        self._theta = theta
        r = np.asarray(best.fun, dtype=float)
        rss = float(r @ r)
        self.chi2_ = rss
        self.log_residuals_ = pd.Series(log_y - self._log_model(t, theta), index=t,
                                        name="log_residual")
        fitted = np.exp(self._log_model(t, theta))
        self.fitted_mbq_ = pd.Series(fitted, index=t, name="fitted_mbq")
        self.residuals_ = pd.Series(y - fitted, index=t, name="residual_mbq")
        wmean = float(np.sum(sqrt_w**2 * log_y) / np.sum(sqrt_w**2))
        ss_tot = float(np.sum(sqrt_w**2 * (log_y - wmean) ** 2))
        self.r_squared_ = 1.0 - rss / ss_tot if ss_tot > 0 else float("nan")
        self.aicc_ = self._aicc(rss)
        self.aicc_by_model_ = {self.model_name: self.aicc_}

        # parameters at a bound: the optimum is a constraint, not an estimate
        at_bound = [name for name, v, lo, hi in zip(self._theta_names(), theta, lower, upper)
                    if (np.isfinite(lo) and v - lo <= 1e-6 * max(1.0, abs(lo)))
                    or (np.isfinite(hi) and hi - v <= 1e-6 * max(1.0, abs(hi)))]
        if at_bound:
            flags.append(self._bound_message(at_bound))

        # covariance in θ
        jmat = jac(theta)
        scale = 1.0 if self.absolute_sigma_ else rss / self.df_resid_
        cov_theta = self._covariance(jmat, scale)
        if cov_theta is None:
            flags.append("parameters not identifiable from these data (singular Jacobian): "
                         "uncertainties are undefined")
            cov_theta = np.full((self.n_params, self.n_params), np.nan)
        elif at_bound:
            cov_theta = np.full_like(cov_theta, np.nan)
        self._cov_theta = cov_theta

        natural, g = self._natural(theta)
        cov_nat = g @ cov_theta @ g.T
        self.params_ = pd.Series(natural, index=list(self._param_names), name="estimate")
        self.covariance_ = pd.DataFrame(cov_nat, index=list(self._param_names),
                                        columns=list(self._param_names))
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(cov_nat)),
                                          index=list(self._param_names), name="se")

        lam, dlam = self._clearance_rate(theta)
        self.clearance_rate_per_h_ = lam
        if lam > 0:
            self.effective_half_life_h_ = LN2 / lam
            self.effective_half_life_se_h_ = float(
                LN2 / lam**2 * math.sqrt(max(float(dlam @ cov_theta @ dlam), 0.0))
                if np.all(np.isfinite(cov_theta)) else float("nan"))
        else:
            self.effective_half_life_h_ = float("inf")

        tia, dtia = self._tia(theta)
        self.tia_mbq_h_ = tia
        if math.isfinite(tia) and np.all(np.isfinite(cov_theta)):
            self.tia_se_mbq_h_ = math.sqrt(max(float(dtia @ cov_theta @ dtia), 0.0))
        # share of the TIA after the last measurement (extrapolated by the model)
        if math.isfinite(tia) and tia > 0:
            self.tail_fraction_ = self._tail_integral(theta, float(t[-1])) / tia

        # physics: biological clearance can only add to physical decay
        lam_phys = self.nuclide.decay_constant_per_h
        if lam <= 0:
            flags.append(
                f"non-physical: the fitted curve rises at the end (effective decay constant "
                f"{lam:.4g} 1/h ≤ 0), so the time-integrated activity diverges")
        elif lam < lam_phys * (1.0 - 1e-12):
            flags.append(
                f"non-physical: effective half-life {LN2 / lam:.1f} h exceeds the physical "
                f"half-life of {self.nuclide.name} ({self.nuclide.half_life_h:.3f} h)")
        if y.size >= 2 and y[-1] > y[-2]:
            flags.append(
                f"non-physical: measured activity rises between {t[-2]:g} h and {t[-1]:g} h "
                f"({y[-2]:.4g} → {y[-1]:.4g} MBq); the last points show no clearance")
        flags.extend(self._extra_flags(theta))
        if (self.max_relative_tia_se is not None and math.isfinite(tia) and tia > 0
                and math.isfinite(self.tia_se_mbq_h_)
                and self.tia_se_mbq_h_ / tia > self.max_relative_tia_se):
            flags.append(
                f"uncertain: relative standard error of the TIA "
                f"{100 * self.tia_se_mbq_h_ / tia:.0f} % exceeds the limit "
                f"{100 * self.max_relative_tia_se:.0f} %")
        self.flags_ = flags
        self._fitted = True
        return self

    @property
    def ok_(self) -> bool:
        """True when the fit raised no flag (result usable for a decision)."""
        self._require_fit()
        return not self.flags_

    def predict(self, time_h: ArrayLike) -> FloatArray:
        """Fitted activity (MBq) at ``time_h`` (h, ≥ 0); NaN if the fit failed."""
        self._require_fit()
        t = np.atleast_1d(np.asarray(time_h, dtype=float))
        if np.any(t < 0.0) or not np.all(np.isfinite(t)):
            raise InputError(f"prediction times must be finite and ≥ 0 h, got {t.tolist()}",
                             field="time_h")
        if self._theta is None:
            return np.full(t.shape, np.nan)
        with np.errstate(divide="ignore"):
            return np.asarray(np.exp(self._log_model(t, self._theta)), dtype=np.float64)

    def ci_quantile(self, level: float = 0.95) -> float:
        """Two-sided critical value for ``level``: t with n − p d.o.f., or normal with known SDs."""
        self._require_fit()
        if not 0.0 < level < 1.0:
            raise InputError(f"confidence level must be in (0, 1), got {level!r}", field="level")
        q = 0.5 * (1.0 + level)
        if self.absolute_sigma_:
            from scipy import stats  # only here: scipy.stats also imports scipy.ndimage

            return float(stats.norm.ppf(q))
        from scipy import stats

        return float(stats.t.ppf(q, self.df_resid_))

    def tia_confidence_interval_mbq_h(self, level: float = 0.95) -> tuple[float, float]:
        """Symmetric interval TIA ± q · SE(TIA) with q from :meth:`ci_quantile`."""
        half = self.ci_quantile(level) * self.tia_se_mbq_h_
        return self.tia_mbq_h_ - half, self.tia_mbq_h_ + half

    @property
    def summary(self) -> pd.DataFrame:
        """Parameters, TIA and effective half-life with standard errors and 95 % limits."""
        self._require_fit()
        est = pd.concat([self.params_, pd.Series({"tia_mbq_h": self.tia_mbq_h_,
                                                  "effective_half_life_h":
                                                      self.effective_half_life_h_})])
        se = pd.concat([self.standard_errors_, pd.Series({"tia_mbq_h": self.tia_se_mbq_h_,
                                                          "effective_half_life_h":
                                                              self.effective_half_life_se_h_})])
        q = self.ci_quantile(0.95)
        return pd.DataFrame({"estimate": est, "se": se, "lower_95": est - q * se,
                             "upper_95": est + q * se})

    def __repr__(self) -> str:
        if not self._fitted:
            return f"<{type(self).__name__}: not fitted>"
        return (f"<{type(self).__name__}: TIA={self.tia_mbq_h_:.4g} MBq·h, "
                f"T_eff={self.effective_half_life_h_:.4g} h, flags={len(self.flags_)}>")

    # ---- helpers -----------------------------------------------------------------------------
    def _require_fit(self) -> None:
        if not self._fitted:
            raise RuntimeError(f"{type(self).__name__}: call fit() first")

    def _theta_names(self) -> list[str]:
        return [f"theta{i}" for i in range(self.n_params)]

    def _bound_message(self, names: list[str]) -> str:
        return f"parameter(s) {', '.join(names)} at a bound of the fit: not estimated"

    def _set_nan_results(self) -> None:
        nan = float("nan")
        names = list(self._param_names)
        self._theta = None
        self._cov_theta = np.full((self.n_params, self.n_params), nan)
        self.params_ = pd.Series(nan, index=names, name="estimate")
        self.standard_errors_ = pd.Series(nan, index=names, name="se")
        self.covariance_ = pd.DataFrame(nan, index=names, columns=names)
        self.effective_half_life_h_ = nan
        self.effective_half_life_se_h_ = nan
        self.clearance_rate_per_h_ = nan
        self.tia_mbq_h_ = nan
        self.tia_se_mbq_h_ = nan
        self.tail_fraction_ = nan
        self.r_squared_ = nan
        self.chi2_ = nan
        self.aicc_ = nan
        self.residuals_ = pd.Series(nan, index=self.time_h_, name="residual_mbq")
        self.log_residuals_ = pd.Series(nan, index=self.time_h_, name="log_residual")
        self.fitted_mbq_ = pd.Series(nan, index=self.time_h_, name="fitted_mbq")

    def _aicc(self, rss: float) -> float:
        n, k = self.n_obs_, self.n_params
        if self.absolute_sigma_:
            core = rss
        else:
            core = n * math.log(max(rss, 1e-300) / n)
        if n - k - 1 <= 0:
            return float("inf")
        return core + 2 * k + 2 * k * (k + 1) / (n - k - 1)

    @staticmethod
    def _covariance(jmat: FloatArray, scale: float) -> FloatArray | None:
        jtj = jmat.T @ jmat
        if not np.all(np.isfinite(jtj)):
            return None
        if np.linalg.cond(jtj) > 1e14:
            return None
        try:
            return np.asarray(np.linalg.inv(jtj) * scale, dtype=np.float64)
        except np.linalg.LinAlgError:
            return None


def _late_loglinear(t: FloatArray, y: FloatArray, sqrt_w: FloatArray) -> tuple[float, float]:
    """Slope λ and intercept ln A0 of a weighted log-linear fit of the points from the maximum on.

    With the maximum at the last point, the last two points are used (the slope is then negative
    and the caller decides what to do with it).
    """
    start = int(np.argmax(y))
    if t.size - start < 2:
        start = t.size - 2
    tt, ly, w = t[start:], np.log(y[start:]), sqrt_w[start:]
    slope, intercept = np.polyfit(tt, ly, 1, w=w)
    return float(-slope), float(intercept)


class MonoExponentialFitter(_LogSpaceFitter):
    """Mono-exponential fit A(t) = A0 · exp(−λ t) on log activity.

    Parameters
    ----------
    from_peak
        Fit only the points from the maximum activity on (the ones before it, in the uptake
        phase, are listed in ``excluded_time_h_``). The TIA is still integrated from t = 0, i.e.
        uptake is taken as instant, which overestimates the TIA by about A0/λu (a few per cent for
        a 2 h uptake half-life). Without it, data that rise before the peak are fitted as they are
        and flagged "model mismatch".
    nuclide
        Decay data used for the physical-half-life check.
    max_relative_tia_se
        Flag fits whose SE(TIA)/TIA exceeds this (None: no such flag).

    Attributes (after :meth:`fit`)
    ------------------------------
    params_ : pandas.Series
        ``A0_mbq`` and ``lambda_per_h`` (effective decay constant).
    standard_errors_, covariance_
        Of ``params_`` (delta method from the fit in θ = (ln A0, λ)).
    effective_half_life_h_, effective_half_life_se_h_
        ln 2 / λ and its standard error (∞ if λ ≤ 0).
    tia_mbq_h_, tia_se_mbq_h_
        A0 / λ (MBq·h) and its standard error (delta method); NaN if λ ≤ 0.
    tail_fraction_
        Share of the TIA after the last time point.
    r_squared_
        1 − RSS/TSS of the weighted fit in log space.
    chi2_, aicc_
        Weighted residual sum of squares in log space (χ² when SDs are given) and AICc.
    residuals_, log_residuals_, fitted_mbq_
        Observed − fitted (MBq), ln observed − ln fitted, fitted values; indexed by time.
    flags_ : list of str
        Why the result must not be used (empty if none).
    df_resid_, absolute_sigma_
        n − 2, and whether the given SDs were used as absolute.

    Notes
    -----
    In log space the model is linear (ln A = ln A0 − λ t), so the fit is weighted linear regression
    and always converges; with unknown relative errors the t-based intervals are exact for ln A0
    and λ under log-normal noise, and close for multiplicative Gaussian noise.
    """

    model_name = "mono"
    _param_names = ("A0_mbq", "lambda_per_h")

    def __init__(self, *, from_peak: bool = False, nuclide: Nuclide = LU177,
                 max_relative_tia_se: float | None = None) -> None:
        super().__init__(nuclide=nuclide, max_relative_tia_se=max_relative_tia_se)
        self.from_peak = from_peak

    def _extra_flags(self, theta: FloatArray) -> list[str]:
        y, t = self.activity_mbq_, self.time_h_
        peak = int(np.argmax(y))
        if peak > 0:
            return [f"model mismatch: activity rises from {t[0]:g} h to {t[peak]:g} h (uptake "
                    "phase) but the mono-exponential model assumes instant uptake; fit from the "
                    "peak (from_peak=True) or use the bi-exponential model"]
        return []

    def _theta_names(self) -> list[str]:
        return ["ln_A0", "lambda_per_h"]

    def _log_model(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        return theta[0] - theta[1] * t

    def _log_model_jac(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        return np.column_stack([np.ones_like(t), -t])

    def _bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.array([-np.inf, -np.inf]), np.array([np.inf, np.inf])

    def _initial_guesses(self, t: FloatArray, y: FloatArray,
                         sqrt_w: FloatArray) -> list[FloatArray]:
        slope, intercept = np.polyfit(t, np.log(y), 1, w=sqrt_w)
        return [np.array([intercept, -slope])]

    def _natural(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        a0 = math.exp(theta[0])
        return np.array([a0, theta[1]]), np.array([[a0, 0.0], [0.0, 1.0]])

    def _clearance_rate(self, theta: FloatArray) -> tuple[float, FloatArray]:
        return float(theta[1]), np.array([0.0, 1.0])

    def _tail_integral(self, theta: FloatArray, t_last_h: float) -> float:
        lam = float(theta[1])
        return math.exp(theta[0] - lam * t_last_h) / lam

    def _tia(self, theta: FloatArray) -> tuple[float, FloatArray]:
        lam = float(theta[1])
        if lam <= 0:
            return float("nan"), np.full(2, np.nan)
        tia = math.exp(theta[0]) / lam
        return tia, np.array([tia, -tia / lam])


class BiExponentialFitter(_LogSpaceFitter):
    """Uptake-and-clearance fit A(t) = A0 · (exp(−λc t) − exp(−λu t)), λu > λc > 0.

    Fitted in θ = (ln A0, ln λc, ln(λu − λc)) on log activity. Attributes as for
    :class:`MonoExponentialFitter`, with ``params_`` = ``A0_mbq``, ``lambda_clearance_per_h``,
    ``lambda_uptake_per_h``; ``effective_half_life_h_`` is the clearance half-life ln 2 / λc and
    ``uptake_half_life_h_`` is ln 2 / λu.

    Notes
    -----
    The uptake phase is only visible in points taken before the peak (for 177Lu-DOTATATE kidneys a
    few hours after administration). With one such point, as in the 1/24/96/168 h schedule, the fit
    has a single residual degree of freedom; if no point shows the uptake, λu runs to its bound and
    the fit is flagged — use the mono-exponential model then.
    """

    model_name = "biexp"
    _param_names = ("A0_mbq", "lambda_clearance_per_h", "lambda_uptake_per_h")

    def _theta_names(self) -> list[str]:
        return ["ln_A0", "ln_lambda_clearance", "ln_lambda_uptake_minus_clearance"]

    def _bound_message(self, names: list[str]) -> str:
        parts = []
        theta = self._theta
        lower, upper = self._bounds()
        if theta is not None:
            if "ln_lambda_uptake_minus_clearance" in names:
                if upper[2] - theta[2] <= 1e-6 * abs(upper[2]):
                    parts.append(f"uptake not resolved by the data: the uptake half-life runs to "
                                 f"the lower bound {_MIN_HALF_LIFE_H:g} h (instant uptake); "
                                 "use the mono-exponential model")
                else:
                    parts.append("uptake and clearance rates cannot be separated (uptake rate "
                                 "at the lower bound)")
            if "ln_lambda_clearance" in names:
                parts.append(f"clearance not resolved by the data: the clearance half-life runs "
                             f"to a bound of the fit ({_MIN_HALF_LIFE_H:g}–{_MAX_HALF_LIFE_H:g} h)")
            if "ln_A0" in names:
                parts.append("activity scale at a bound")
        return "fit at a bound, parameters not estimated: " + "; ".join(parts)

    def _extra_flags(self, theta: FloatArray) -> list[str]:
        lam_u = self._rates(theta)[2]
        t1 = float(self.time_h_[0])
        # e^{−λu t1} < 1e-3: uptake finished (to 0.1 %) before the first measurement, so no
        # point constrains λu and the "uptake" parameter only absorbs noise
        if lam_u * t1 > math.log(1e3):
            return [f"uptake not resolved: fitted uptake half-life {LN2 / lam_u:.3g} h is far "
                    f"shorter than the first time point ({t1:g} h), so no measurement shows the "
                    "uptake phase; use the mono-exponential model"]
        return []

    def _bounds(self) -> tuple[FloatArray, FloatArray]:
        lam_min, lam_max = LN2 / _MAX_HALF_LIFE_H, LN2 / _MIN_HALF_LIFE_H
        return (np.array([-np.inf, math.log(lam_min), math.log(1e-9)]),
                np.array([np.inf, math.log(lam_max), math.log(lam_max)]))

    @staticmethod
    def _rates(theta: FloatArray) -> tuple[float, float, float]:
        lam_c = math.exp(theta[1])
        delta = math.exp(theta[2])
        return lam_c, delta, lam_c + delta

    def _log_model(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        lam_c, delta, _ = self._rates(theta)
        # ln(e^{−λc t} − e^{−λu t}) = −λc t + ln(1 − e^{−δ t}), stable for small δ t
        return theta[0] - lam_c * t + np.log(-np.expm1(-delta * t))

    def _log_model_jac(self, t: FloatArray, theta: FloatArray) -> FloatArray:
        lam_c, delta, _ = self._rates(theta)
        x = delta * t
        # d/dθ2 ln(1 − e^{−x}) with x = e^{θ2} t: x / (e^x − 1), → 1 as x → 0
        with np.errstate(over="ignore"):
            d2 = np.where(x < 1e-12, 1.0, x / np.expm1(np.minimum(x, 700.0)))
        d2 = np.where(x > 700.0, 0.0, d2)
        return np.column_stack([np.ones_like(t), -lam_c * t, d2])

    def _initial_guesses(self, t: FloatArray, y: FloatArray,
                         sqrt_w: FloatArray) -> list[FloatArray]:
        lam_phys = self.nuclide.decay_constant_per_h
        lam_c, ln_a0 = _late_loglinear(t, y, sqrt_w)
        lower, upper = self._bounds()
        lam_c = float(np.clip(lam_c if lam_c > 0 else lam_phys,
                              math.exp(lower[1]) * 1.01, math.exp(upper[1]) * 0.5))
        guesses = []
        for t_uptake_h in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0):
            lam_u = LN2 / t_uptake_h
            if lam_u <= 1.5 * lam_c:
                lam_u = 3.0 * lam_c
            guesses.append(np.array([ln_a0, math.log(lam_c), math.log(lam_u - lam_c)]))
        return guesses

    def _natural(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        a0 = math.exp(theta[0])
        lam_c, delta, lam_u = self._rates(theta)
        g = np.array([[a0, 0.0, 0.0],
                      [0.0, lam_c, 0.0],
                      [0.0, lam_c, delta]])
        return np.array([a0, lam_c, lam_u]), g

    def _clearance_rate(self, theta: FloatArray) -> tuple[float, FloatArray]:
        lam_c = math.exp(theta[1])
        return lam_c, np.array([0.0, lam_c, 0.0])

    def _tail_integral(self, theta: FloatArray, t_last_h: float) -> float:
        a0 = math.exp(theta[0])
        lam_c, _, lam_u = self._rates(theta)
        return a0 * (math.exp(-lam_c * t_last_h) / lam_c - math.exp(-lam_u * t_last_h) / lam_u)

    def _tia(self, theta: FloatArray) -> tuple[float, FloatArray]:
        a0 = math.exp(theta[0])
        lam_c, delta, lam_u = self._rates(theta)
        tia = a0 * delta / (lam_c * lam_u)  # = A0 (1/λc − 1/λu)
        # d ln TIA / dθ = (1, −1 − λc/λu, 1 − δ/λu)
        return tia, tia * np.array([1.0, -1.0 - lam_c / lam_u, 1.0 - delta / lam_u])

    def _set_nan_results(self) -> None:
        super()._set_nan_results()
        self.uptake_half_life_h_ = float("nan")

    def fit(self, time_h: ArrayLike, activity_mbq: ArrayLike,
            activity_sd_mbq: ArrayLike | None = None, *,
            source: str | None = None) -> Self:
        super().fit(time_h, activity_mbq, activity_sd_mbq, source=source)
        if self._theta is not None:
            self.uptake_half_life_h_ = LN2 / self._rates(self._theta)[2]
        return self


# --------------------------------------------------------------------------------------------
# Convenience wrapper
# --------------------------------------------------------------------------------------------

Model = Literal["mono", "biexp", "auto"]


def fit_time_activity(
    time_h: ArrayLike,
    activity_mbq: ArrayLike,
    model: Model = "mono",
    activity_sd_mbq: ArrayLike | None = None,
    *,
    from_peak: bool = False,
    max_relative_tia_se: float | None = None,
    nuclide: Nuclide = LU177,
    source: str | None = None,
) -> MonoExponentialFitter | BiExponentialFitter:
    """Fit a kidney time-activity curve with the chosen model.

    Parameters
    ----------
    time_h, activity_mbq, activity_sd_mbq
        As for :meth:`MonoExponentialFitter.fit`.
    model
        ``"mono"``, ``"biexp"`` or ``"auto"``. ``"auto"`` fits both (the bi-exponential model only
        when there are at least 4 points) and returns the one with the lower AICc among fits that
        converged; on a tie or when neither AICc is finite, the mono-exponential fit. The AICc of
        every candidate is kept in ``aicc_by_model_`` of the returned fitter.
    from_peak
        Passed to :class:`MonoExponentialFitter` (fit the mono-exponential model from the peak).
        Refused with ``"biexp"`` and ``"auto"``: the candidates must be fitted to the same
        points for their AICc to be comparable.
    max_relative_tia_se
        Flag fits whose SE(TIA)/TIA exceeds this (None: no such flag).

    Returns
    -------
    MonoExponentialFitter or BiExponentialFitter
        Fitted; check ``flags_`` before using the result.
    """
    if model not in ("mono", "biexp", "auto"):
        raise InputError(f"unknown model {model!r}; expected 'mono', 'biexp' or 'auto'",
                         source=source, field="model")
    if from_peak and model != "mono":
        raise InputError(f"from_peak=True applies to the mono-exponential model only, not to "
                         f"model={model!r} (AICc must compare fits to the same points)",
                         source=source, field="from_peak")

    def mono_fitter() -> MonoExponentialFitter:
        return MonoExponentialFitter(from_peak=from_peak, nuclide=nuclide,
                                     max_relative_tia_se=max_relative_tia_se)

    def biexp_fitter() -> BiExponentialFitter:
        return BiExponentialFitter(nuclide=nuclide, max_relative_tia_se=max_relative_tia_se)

    if model == "mono":
        return mono_fitter().fit(time_h, activity_mbq, activity_sd_mbq, source=source)
    if model == "biexp":
        return biexp_fitter().fit(time_h, activity_mbq, activity_sd_mbq, source=source)
    mono = mono_fitter().fit(time_h, activity_mbq, activity_sd_mbq, source=source)
    candidates: list[MonoExponentialFitter | BiExponentialFitter] = [mono]
    if mono.n_obs_ >= BiExponentialFitter().n_params + 1:
        candidates.append(biexp_fitter().fit(time_h, activity_mbq, activity_sd_mbq,
                                             source=source))
    aicc = {f.model_name: f.aicc_ for f in candidates}
    chosen: MonoExponentialFitter | BiExponentialFitter = mono
    for f in candidates[1:]:
        converged = not any(s.startswith(("fit failed", "fit did not converge"))
                            for s in f.flags_)
        if converged and math.isfinite(f.aicc_) and (
                not math.isfinite(chosen.aicc_) or f.aicc_ < chosen.aicc_):
            chosen = f
    chosen.aicc_by_model_ = aicc
    return chosen


# --------------------------------------------------------------------------------------------
# Model-free fallbacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrapezoidResult:
    """Time-integrated activity by the trapezoid rule with head and tail (MBq·h).

    ``tia_mbq_h`` = ``head_mbq_h`` (0 → first point) + ``body_mbq_h`` (between points)
    + ``tail_mbq_h`` (last point → ∞). ``tail_decay_constant_per_h`` is the rate used for the
    tail; ``flags`` says why the result must not be used (empty if none).
    """

    tia_mbq_h: float
    head_mbq_h: float
    body_mbq_h: float
    tail_mbq_h: float
    tail_decay_constant_per_h: float
    flags: list[str] = field(default_factory=list)

    def __float__(self) -> float:
        return self.tia_mbq_h


def trapezoid_tia(
    time_h: ArrayLike,
    activity_mbq: ArrayLike,
    tail: Literal["physical", "fit"] = "physical",
    head: Literal["zero", "constant", "exponential"] = "zero",
    *,
    nuclide: Nuclide = LU177,
    source: str | None = None,
) -> TrapezoidResult:
    """Model-free TIA: trapezoids between the points plus a head and an exponential tail.

    Parameters
    ----------
    time_h, activity_mbq
        At least 2 points, times > 0 and strictly increasing (see :func:`validate_time_activity`).
    tail
        ``"physical"``: A_n / λ_phys — decay only, no further biological clearance, which is the
        slowest physically possible decline and so a conservative upper bound on the tail.
        ``"fit"``: A_n / λ with λ = ln(A_{n−1}/A_n) / (t_n − t_{n−1}) from the last two points. If
        that slope is slower than physical decay (or the activity rises), the physical tail is used
        instead and the result is flagged "non-physical".
    head
        The part from administration to the first point:
        ``"zero"`` (default) — linear from (0, 0), i.e. uptake starting at administration:
        t₁·A₁/2. For kidney data starting at ~1 h this is a fraction of a percent of the TIA.
        ``"constant"`` — A₁ held back to t = 0 (instant uptake without clearance): t₁·A₁, an
        upper bound for a mono-exponential head.
        ``"exponential"`` — the first two points' exponential back-extrapolated to t = 0 and
        integrated, ∫₀^t₁ A₁ e^{λ₁(t₁ − t)} dt (exact for a mono-exponential curve); if the first
        two points do not decrease, falls back to ``"constant"`` with a flag.

    Returns
    -------
    TrapezoidResult
    """
    src = source or DEFAULT_SOURCE
    if tail not in ("physical", "fit"):
        raise InputError(f"unknown tail {tail!r}; expected 'physical' or 'fit'", source=src,
                         field="tail")
    if head not in ("zero", "constant", "exponential"):
        raise InputError(f"unknown head {head!r}; expected 'zero', 'constant' or 'exponential'",
                         source=src, field="head")
    t, y, _ = validate_time_activity(time_h, activity_mbq, min_points=2, source=source)
    flags: list[str] = []
    lam_phys = nuclide.decay_constant_per_h

    if head == "zero":
        head_mbq_h = 0.5 * t[0] * y[0]
    elif head == "constant":
        head_mbq_h = t[0] * y[0]
    else:
        lam1 = math.log(y[0] / y[1]) / (t[1] - t[0])
        if lam1 > 0:
            head_mbq_h = y[0] * math.expm1(lam1 * t[0]) / lam1
        else:
            head_mbq_h = t[0] * y[0]
            flags.append(f"head: activity does not decrease between {t[0]:g} h and {t[1]:g} h, "
                         "so it cannot be back-extrapolated; A(t₁) held constant to t = 0")

    body_mbq_h = float(integrate.trapezoid(y, t))

    lam_tail = lam_phys
    if tail == "fit":
        lam_last = math.log(y[-2] / y[-1]) / (t[-1] - t[-2])
        if lam_last >= lam_phys:
            lam_tail = lam_last
        else:
            flags.append(
                f"non-physical: activity between {t[-2]:g} h and {t[-1]:g} h "
                f"({y[-2]:.4g} → {y[-1]:.4g} MBq) falls more slowly than physical decay "
                f"(half-life {LN2 / lam_last:.1f} h)" if lam_last > 0 else
                f"non-physical: activity rises between {t[-2]:g} h and {t[-1]:g} h "
                f"({y[-2]:.4g} → {y[-1]:.4g} MBq)")
            flags[-1] += "; the tail uses physical decay instead"
    tail_mbq_h = y[-1] / lam_tail
    return TrapezoidResult(
        tia_mbq_h=float(head_mbq_h + body_mbq_h + tail_mbq_h), head_mbq_h=float(head_mbq_h),
        body_mbq_h=body_mbq_h, tail_mbq_h=float(tail_mbq_h),
        tail_decay_constant_per_h=float(lam_tail), flags=flags)


def hanscheid_tia(activity_mbq: float, time_h: float, *, source: str | None = None) -> float:
    """Single-time-point TIA estimate of Hänscheid et al. (J Nucl Med 2018): Ã ≈ A(t) · 2t / ln 2.

    For a mono-exponential curve with effective half-life T the ratio to the true TIA is
    r = (2t/T) · 2^(−t/T): exactly 1 at t = T and t = 2T, at most +6.2 % in between
    (t = T/ln 2), and falling off quickly outside (0.688 at t = 0.48 T, 0.654 at t = 3.36 T).
    For 177Lu-DOTATATE kidneys (T ≈ 40–60 h) a measurement at about 72–96 h is the sweet spot.

    Parameters
    ----------
    activity_mbq
        Kidney activity (MBq) at ``time_h``.
    time_h
        Time of the measurement after administration (h).

    Returns
    -------
    float
        TIA estimate (MBq·h).
    """
    a = _check_positive_scalar(activity_mbq, "activity_mbq", source or DEFAULT_SOURCE)
    t = _check_positive_scalar(time_h, "time_h", source or DEFAULT_SOURCE)
    return a * 2.0 * t / LN2

