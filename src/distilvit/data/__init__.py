"""Caption datasets: one schema for every source, a registry, and the synthetic scenes."""
