# Reference values from R's survival::coxph for tests/test_cox_vs_r.py.
#
# Usage: Rscript tests/r/cox_reference.R <input_dir> <output_dir>
#
# <input_dir>/ph.csv  columns time, status, grp (A/B/C), x, ecog (0/1/2): one row per subject.
# <input_dir>/tv.csv  columns id, start, stop, status, cum, ecog: counting-process intervals.
# Models (ties = "efron", the R default and lifelines' method; eps = 1e-12):
#   ph_grp      Surv(time, status) ~ grp
#   ph_multi    Surv(time, status) ~ grp + x + ecog
#   tv_cum      Surv(start, stop, status) ~ cum
#   tv_multi    Surv(start, stop, status) ~ cum + ecog
# For each model writes <model>_coef.csv (coef, se, z, p in model-matrix order) and
# <model>_tests.csv (loglik0, loglik, lr, lr_df, lr_p, wald, wald_df, wald_p, n, events).
# Factor levels are A < B < C and 0 < 1 < 2 (first level = reference). 17 significant digits.

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: cox_reference.R <input_dir> <output_dir>")
in_dir <- args[1]
out_dir <- args[2]

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
write_num <- function(df, path) {
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- fmt(df[[col]])
  write.csv(df, path, row.names = FALSE, quote = TRUE)
}

ph <- read.csv(file.path(in_dir, "ph.csv"))
ph$grp <- factor(ph$grp, levels = c("A", "B", "C"))
ph$ecog <- factor(ph$ecog, levels = c(0, 1, 2))
tv <- read.csv(file.path(in_dir, "tv.csv"))
tv$ecog <- factor(tv$ecog, levels = c(0, 1, 2))

ctl <- coxph.control(eps = 1e-12, iter.max = 100)
models <- list(
  ph_grp = coxph(Surv(time, status) ~ grp, data = ph, ties = "efron", control = ctl),
  ph_multi = coxph(Surv(time, status) ~ grp + x + ecog, data = ph, ties = "efron", control = ctl),
  tv_cum = coxph(Surv(start, stop, status) ~ cum, data = tv, ties = "efron", control = ctl),
  tv_multi = coxph(Surv(start, stop, status) ~ cum + ecog, data = tv, ties = "efron",
                   control = ctl)
)
for (name in names(models)) {
  f <- models[[name]]
  s <- summary(f)$coefficients
  write_num(data.frame(covariate = rownames(s), coef = s[, "coef"], se = s[, "se(coef)"],
                       z = s[, "z"], p = s[, "Pr(>|z|)"]),
            file.path(out_dir, paste0(name, "_coef.csv")))
  k <- length(coef(f))
  lr <- 2 * (f$loglik[2] - f$loglik[1])
  write_num(data.frame(loglik0 = f$loglik[1], loglik = f$loglik[2], lr = lr, lr_df = k,
                       lr_p = pchisq(lr, k, lower.tail = FALSE), wald = unname(f$wald.test),
                       wald_df = k, wald_p = pchisq(unname(f$wald.test), k, lower.tail = FALSE),
                       n = f$n, events = f$nevent),
            file.path(out_dir, paste0(name, "_tests.csv")))
}
