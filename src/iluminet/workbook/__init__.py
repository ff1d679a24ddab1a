"""The workbook machinery: the command line (:mod:`.cli`), the papermill runner (:mod:`.runner`)
and the commands that make synthetic data (:mod:`.cli_virtual`, :mod:`.cli_trial`)."""
