"""What happens: workloads become task graphs run as events on a modelled cluster."""
