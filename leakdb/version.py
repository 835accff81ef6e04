"""LeakDB's version, and the Redis version whose commands and replies it follows."""

__version__ = "0.2.0"

# INFO reports this as redis_version; clients pick features by it.
REDIS_VERSION = "7.0.15"
