# Reference fit from R's nlme package for tests/test_qol_vs_r.py.
#
# Usage: Rscript tests/r/lme_reference.R <input.csv> <levels.csv> <output_dir> intercept|slope
#
# <input.csv> has columns patient_id, months, bed_group, score; <levels.csv> a column `level`
# with the bed_group levels in order, reference first (levels absent from the data are dropped).
# Writes <output_dir>/lme_<model>.csv: term, estimate, std_error of the REML fit
# score ~ months + bed_group  with random = ~ 1 | patient_id (intercept) or ~ months | patient_id
# (slope),
# plus the rows "residual_variance" and "log_likelihood". Numbers with 17 significant digits.

suppressPackageStartupMessages(library(nlme))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4) stop("usage: lme_reference.R <input.csv> <levels.csv> <output_dir> <model>")
d <- read.csv(args[1], colClasses = c(patient_id = "character", months = "numeric",
                                      bed_group = "character", score = "numeric"))
levels <- read.csv(args[2], colClasses = c(level = "character"))$level
d$bed_group <- factor(d$bed_group, levels = levels[levels %in% unique(d$bed_group)])
out_dir <- args[3]

fmt <- function(x) sprintf("%.17g", x)
ctrl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12,
                   niterEM = 100)

write_fit <- function(fit, path) {
  tab <- summary(fit)$tTable
  out <- data.frame(term = rownames(tab), estimate = fmt(tab[, "Value"]),
                    std_error = fmt(tab[, "Std.Error"]))
  extra <- data.frame(term = c("residual_variance", "log_likelihood"),
                      estimate = fmt(c(fit$sigma^2, as.numeric(logLik(fit)))),
                      std_error = c("NA", "NA"))
  write.csv(rbind(out, extra), path, row.names = FALSE, quote = TRUE)
}

model <- args[4]
random <- if (model == "slope") ~ months | patient_id else ~ 1 | patient_id
fit <- lme(score ~ months + bed_group, random = random, data = d, method = "REML",
           control = ctrl)
write_fit(fit, file.path(out_dir, paste0("lme_", model, ".csv")))
