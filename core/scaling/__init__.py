"""One small strategy per workload kind: turns a workload into a sleep patch or a wake patch."""
