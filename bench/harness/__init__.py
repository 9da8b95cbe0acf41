"""The benchmark harness shared by every service's bench.

- :mod:`harness.measure`: what runs inside a measured subprocess (phase
  meters: wall time, HTTP requests with their timeline, peak RSS, CPU, the
  emulator's own counts; the pause during which the parent plays the
  annotator). Standard library only: the official SDKs' baselines import it
  from their own virtual environments.
- :mod:`harness.workload`: the generated images, the dataset, the simulated
  annotator's edit and the check of its result.
- :mod:`harness.fo_worker`: one round of a FiftyOne annotation backend
  (ours, or a built-in one) in a fresh subprocess.
- :mod:`harness.parent`: the parent process: options, rounds in
  alternating order, subprocesses, emulators, warm-up, profile, scaling
  sweeps, report.json and the RESULTS.md section.
- :mod:`harness.stats` and :mod:`harness.report`: figures aggregated over
  the rounds, and the markdown they are written as.

A service's bench (``bench/bench_<service>.py``, named by the ``bench`` field
of its entry in ``fo_annotation_backends.registry``) is a subclass of
:class:`harness.parent.Bench`: its workload, its baselines, its sanity checks
and the tables of its section.
"""
