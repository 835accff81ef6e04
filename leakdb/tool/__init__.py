"""The ``leakdb`` command: inspect, check, export, import and convert LeakDB data files offline."""
