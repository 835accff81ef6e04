"""LeakDB's benchmark suite: ``python -m benchmarks [--quick] [--out DIR]``.

It measures leakdb-server against redis-server over the wire with redis-benchmark, LeakDB's storage
classes against other embedded Python stores in process, and (without ``--quick``) how the server
scales with clients and data; then it checks the results against the project's performance targets.
Results go to ``benchmarks/results/`` (Markdown, CSV and PNG charts).
"""
