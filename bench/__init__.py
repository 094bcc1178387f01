"""`make bench`: namespace-ctl against a fake Kubernetes API server in a separate process.

See bench/README.md. `bench.run` orchestrates; each scenario runs in a fresh child process
(`bench.scenario`), so its CPU time and peak RSS are its own.
"""
