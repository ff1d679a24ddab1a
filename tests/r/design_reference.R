# Closed-form sample sizes by hand formulas in base R (qnorm/pnorm), independent of the Python
# implementation: Schoenfeld events, the exponential event probability with uniform accrual,
# patients, power from events, and Fleiss' two-proportion sample size per arm.
args <- commandArgs(trailingOnly = TRUE)
cases <- read.csv(args[1])
out <- data.frame()
for (i in seq_len(nrow(cases))) {
  r <- cases[i, ]
  za <- qnorm(1 - r$alpha / r$sides); zb <- qnorm(r$power)
  p <- r$allocation
  d <- (za + zb)^2 / (p * (1 - p) * log(r$hr)^2)
  lam <- log(2) / r$median
  prob <- function(l) 1 - (exp(-l * r$follow_up) - exp(-l * (r$accrual + r$follow_up))) /
    (l * r$accrual)
  n <- d / (p * prob(lam * r$hr) + (1 - p) * prob(lam))
  pw <- pnorm(sqrt(r$events_given * p * (1 - p)) * abs(log(r$hr)) - za)
  p1 <- r$p1; p2 <- r$p2; pm <- (p1 + p2) / 2
  nrr <- (za * sqrt(2 * pm * (1 - pm)) + zb * sqrt(p1 * (1 - p1) + p2 * (1 - p2)))^2 /
    (p1 - p2)^2
  out <- rbind(out, data.frame(events = d, patients = n, power = pw, rr_per_arm = nrr))
}
write.csv(out, args[2], row.names = FALSE)
