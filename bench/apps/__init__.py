"""The same workloads written the idiomatic fastest documented way in each framework."""
