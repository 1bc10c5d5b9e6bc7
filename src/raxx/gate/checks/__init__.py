"""Gate conditions. Each returns ``CheckResult`` values and never prints or exits, so CI,
people (``raxx gate check``) and the console's releases page share one evaluation."""
