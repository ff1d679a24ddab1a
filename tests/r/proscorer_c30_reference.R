# Independent QLQ-C30 scores (scales and the Giesinger 2016 summary score) from the R package
# PROscorer (Baser; CRAN "PROscorer", qlq_c30()), for tests/cohort/test_qol_scoring.py.
#
# Usage: Rscript tests/r/proscorer_c30_reference.R <PROscorer checkout> <PROscorerTools checkout> \
#            tests/r/proscorer/c30_responses.csv tests/r/proscorer/c30_scores_proscorer.csv
#
# The two checkouts are the package sources (github.com/raybaser/PROscorer at commit
# eb01e0008f4ac4d2d8e80d2209d4818e321a1d56, github.com/raybaser/PROscorerTools at commit
# cecd73beed59c213bd6174a9f7c22be04b1f9726); their R/ files are sourced, so neither package has to be
# installed. The committed output was written by this script; the package code is not copied here.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4) stop("usage: proscorer_c30_reference.R <PROscorer> <PROscorerTools> <in> <out>")
env <- new.env()
for (f in list.files(file.path(args[2], "R"), pattern = "\\.[Rr]$", full.names = TRUE)) {
  sys.source(f, envir = env)
}
code <- readLines(file.path(args[1], "R", "qlq_c30.R"))
eval(parse(text = gsub("PROscorerTools::", "", code, fixed = TRUE)), envir = env)
d <- read.csv(args[3])
for (i in seq_len(30)) d[[i]] <- as.integer(d[[i]])
s <- env$qlq_c30(d, "q")
s[] <- lapply(s, function(x) ifelse(is.na(x), NA, sprintf("%.17g", x)))
write.csv(s, args[4], row.names = FALSE, na = "")
