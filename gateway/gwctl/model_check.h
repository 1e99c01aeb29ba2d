/* model_check.h - gwctl audit model-check: every region's whole audit log
 * checked against the settlement protocol model's transitions
 * (settlement/trace_check.h; tests/model/README.md "What the trace check
 * checks"). */
#ifndef GATEWAY_GWCTL_MODEL_CHECK_H
#define GATEWAY_GWCTL_MODEL_CHECK_H

/* Runs `gwctl audit model-check` (argv[0] "model-check"; see its --help).
 * Returns the exit code: 0 every step is a model step, 1 a finding, 2 bad
 * usage, 3 a target unreachable, 4 refused, 5 bad local credentials. */
int gwctl_model_check(int argc, char **argv);

#endif
