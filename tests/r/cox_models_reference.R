# Reference values from R's survival::coxph for tests/test_bed_effect_vs_r.py: every Cox model of
# the BED analyses (iluminet.trial.bed_effect) refitted on the same design matrices.
#
# Usage: Rscript tests/r/cox_models_reference.R <input_dir> <output_dir>
#
# <input_dir>/manifest.csv: name, kind (ph | tv), covariates (x0|x1|...), terms (one label per
# covariate, |-separated). <input_dir>/<name>.csv: time, event (ph) or start, stop, event (tv),
# then the numeric covariates x0, x1, ... (indicator columns already made, as in the package).
# Ties = "efron", eps = 1e-12. Writes <name>_coef.csv (coef, se, z, p, hr, hr_lower, hr_upper at
# 95 %), <name>_tests.csv (loglik0, loglik, lr, lr_p, wald, wald_p, n, events) and
# <name>_terms.csv (term, wald, df, p: joint Wald test of each term's coefficients).

suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2) stop("usage: cox_models_reference.R <input_dir> <output_dir>")
in_dir <- args[1]
out_dir <- args[2]
fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))
write_num <- function(df, path) {
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- fmt(df[[col]])
  write.csv(df, path, row.names = FALSE, quote = TRUE)
}
ctl <- coxph.control(eps = 1e-12, iter.max = 200)
manifest <- read.csv(file.path(in_dir, "manifest.csv"), stringsAsFactors = FALSE)
for (i in seq_len(nrow(manifest))) {
  m <- manifest[i, ]
  d <- read.csv(file.path(in_dir, paste0(m$name, ".csv")))
  covs <- strsplit(m$covariates, "|", fixed = TRUE)[[1]]
  terms <- strsplit(m$terms, "|", fixed = TRUE)[[1]]
  rhs <- paste(covs, collapse = " + ")
  f <- if (m$kind == "ph") {
    coxph(as.formula(paste("Surv(time, event) ~", rhs)), data = d, ties = "efron", control = ctl)
  } else {
    coxph(as.formula(paste("Surv(start, stop, event) ~", rhs)), data = d, ties = "efron",
          control = ctl)
  }
  s <- summary(f)$coefficients
  b <- coef(f)
  se <- sqrt(diag(vcov(f)))
  q <- qnorm(0.975)
  write_num(data.frame(covariate = covs, coef = s[, "coef"], se = s[, "se(coef)"], z = s[, "z"],
                       p = s[, "Pr(>|z|)"], hr = exp(b), hr_lower = exp(b - q * se),
                       hr_upper = exp(b + q * se)),
            file.path(out_dir, paste0(m$name, "_coef.csv")))
  k <- length(b)
  lr <- 2 * (f$loglik[2] - f$loglik[1])
  write_num(data.frame(loglik0 = f$loglik[1], loglik = f$loglik[2], lr = lr,
                       lr_p = pchisq(lr, k, lower.tail = FALSE), wald = unname(f$wald.test),
                       wald_p = pchisq(unname(f$wald.test), k, lower.tail = FALSE), n = f$n,
                       events = f$nevent),
            file.path(out_dir, paste0(m$name, "_tests.csv")))
  rows <- list()
  for (t in unique(terms)) {
    idx <- which(terms == t)
    w <- as.numeric(t(b[idx]) %*% solve(vcov(f)[idx, idx, drop = FALSE], b[idx]))
    rows[[length(rows) + 1]] <- data.frame(term = t, wald = w, df = length(idx),
                                           p = pchisq(w, length(idx), lower.tail = FALSE))
  }
  write_num(do.call(rbind, rows), file.path(out_dir, paste0(m$name, "_terms.csv")))
}
