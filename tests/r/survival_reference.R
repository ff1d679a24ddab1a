# Reference values from R's survival package for tests/test_survival_vs_r.py.
#
# Usage: Rscript tests/r/survival_reference.R <input_dir> <output_dir> [time ...]
#
# Every <input_dir>/<name>.csv has columns time, status (1 event, 0 censored), group.
# For each dataset and each conf.type in log, log-log, plain this writes to <output_dir>:
#   <name>_km.csv        survfit per group at every observed time: time, n.risk, n.event,
#                        n.censor, surv, std.err (of the cumulative hazard), lower, upper
#   <name>_median.csv    per group: print.survfit median with CI (summary(fit)$table) and
#                        quantile(fit, 0.5) with CI
#   <name>_times.csv     per group: summary(fit, times=...) surv, lower, upper
#   <name>_followup.csv  reverse Kaplan-Meier median follow-up with CI (whole dataset)
#   <name>_logrank.csv   survdiff(rho = 0): chisq, df, p (only with more than one group)
# Numbers are written with 17 significant digits; NA as "NA".

suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2) stop("usage: survival_reference.R <input_dir> <output_dir> [time ...]")
in_dir <- args[1]
out_dir <- args[2]
at_times <- if (length(args) > 2) as.numeric(args[-(1:2)]) else 60

fmt <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

write_num <- function(df, path) {
  for (col in names(df)) if (is.numeric(df[[col]])) df[[col]] <- fmt(df[[col]])
  write.csv(df, path, row.names = FALSE, quote = TRUE)
}

one_group_fits <- function(d, conf_type) {
  groups <- sort(unique(d$group))
  lapply(groups, function(g) {
    dd <- d[d$group == g, ]
    list(group = g, fit = survfit(Surv(time, status) ~ 1, data = dd, conf.type = conf_type))
  })
}

for (path in list.files(in_dir, pattern = "\\.csv$", full.names = TRUE)) {
  name <- sub("\\.csv$", "", basename(path))
  d <- read.csv(path, colClasses = c(time = "numeric", status = "numeric", group = "character"))
  km <- list(); med <- list(); tms <- list()
  for (ct in c("log", "log-log", "plain")) {
    for (item in one_group_fits(d, ct)) {
      f <- item$fit
      km[[length(km) + 1]] <- data.frame(
        conf_type = ct, group = item$group, time = f$time, n_risk = f$n.risk,
        n_event = f$n.event, n_censor = f$n.censor, surv = f$surv, std_err = f$std.err,
        lower = f$lower, upper = f$upper)
      tab <- summary(f)$table
      q <- quantile(f, probs = 0.5)
      med[[length(med) + 1]] <- data.frame(
        conf_type = ct, group = item$group,
        median = unname(tab["median"]), lower = unname(tab["0.95LCL"]),
        upper = unname(tab["0.95UCL"]),
        q_median = unname(q$quantile), q_lower = unname(q$lower), q_upper = unname(q$upper))
      keep <- at_times[at_times <= max(f$time)]  # R drops later times (extend = FALSE)
      if (length(keep) > 0) {
        s <- summary(f, times = keep)
        tms[[length(tms) + 1]] <- data.frame(
          conf_type = ct, group = item$group, time = s$time, surv = s$surv,
          lower = s$lower, upper = s$upper)
      }
    }
  }
  write_num(do.call(rbind, km), file.path(out_dir, paste0(name, "_km.csv")))
  write_num(do.call(rbind, med), file.path(out_dir, paste0(name, "_median.csv")))
  if (length(tms) > 0) write_num(do.call(rbind, tms), file.path(out_dir, paste0(name, "_times.csv")))

  rev_fit <- survfit(Surv(time, 1 - status) ~ 1, data = d)
  rt <- summary(rev_fit)$table
  write_num(data.frame(median = unname(rt["median"]), lower = unname(rt["0.95LCL"]),
                       upper = unname(rt["0.95UCL"])),
            file.path(out_dir, paste0(name, "_followup.csv")))

  if (length(unique(d$group)) > 1) {
    sd <- survdiff(Surv(time, status) ~ group, data = d)
    df <- sum(sd$exp > 0) - 1
    write_num(data.frame(chisq = sd$chisq, df = df, p = sd$pvalue),
              file.path(out_dir, paste0(name, "_logrank.csv")))
  }
}
