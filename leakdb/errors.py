"""Every error LeakDB can raise or reply with, in one place.

The engine raises :class:`CommandError` subclasses; the server turns them into RESP error replies with
exactly these words, which are the words Redis uses, so clients that match on error text keep working.
"""

from __future__ import annotations


class LeakDBError(Exception):
    """Base class of every LeakDB error."""


class CommandError(LeakDBError):
    """An error a Redis client sees as an error reply; ``str(error)`` is the reply's text."""

    message = "ERR"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message if message is not None else self.message)


class WrongTypeError(CommandError, TypeError):
    """The key holds a value of another type than the operation needs."""

    message = "WRONGTYPE Operation against a key holding the wrong kind of value"


class NotAnIntegerError(CommandError, ValueError):
    """A value or argument is not a 64-bit signed integer."""

    message = "ERR value is not an integer or out of range"


class NotAFloatError(CommandError, ValueError):
    message = "ERR value is not a valid float"


class OverflowError_(CommandError, ValueError):
    message = "ERR increment or decrement would overflow"


class SyntaxErrorReply(CommandError):
    message = "ERR syntax error"


class NoSuchKeyError(CommandError, KeyError):
    message = "ERR no such key"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class OutOfRangeError(CommandError):
    message = "ERR index out of range"


class DBIndexError(CommandError):
    message = "ERR DB index is out of range"


class StorageError(LeakDBError):
    """A data file that LeakDB cannot read or write; the file is left untouched."""


# Replies that are always the same bytes; building them once keeps the hot path free of formatting.
WRONGTYPE = b"-" + WrongTypeError.message.encode() + b"\r\n"
NOT_INTEGER = b"-" + NotAnIntegerError.message.encode() + b"\r\n"
NOT_FLOAT = b"-" + NotAFloatError.message.encode() + b"\r\n"
OVERFLOW = b"-" + OverflowError_.message.encode() + b"\r\n"
SYNTAX = b"-" + SyntaxErrorReply.message.encode() + b"\r\n"
NO_SUCH_KEY = b"-ERR no such key\r\n"
DB_INDEX = b"-" + DBIndexError.message.encode() + b"\r\n"
NAN_OR_INFINITY = b"-ERR increment would produce NaN or Infinity\r\n"
NOT_INTEGER_TIMEOUT = b"-ERR timeout is not an integer or out of range\r\n"
EXPIRE_TIME_INVALID = "ERR invalid expire time in '{}' command"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
STRING_TOO_LONG = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
OFFSET_OUT_OF_RANGE = b"-ERR offset is out of range\r\n"
MAX_CLIENTS = b"-ERR max number of clients reached\r\n"
# Redis's refusal of writes after a failed save (stop-writes-on-bgsave-error); LeakDB gives it for
# writes refused while the data file cannot be written, and for a write-through write the file refused.
MISCONF = (
    b"-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to "
    b"disk. Commands that may modify the data set are disabled, because this instance is configured "
    b"to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). "
    b"Please check the Redis logs for details about the RDB error.\r\n"
)


def wrong_arity(name: str) -> bytes:
    return b"-ERR wrong number of arguments for '%s' command\r\n" % name.lower().encode()


def unknown_command(name: bytes, args: list[bytes]) -> bytes:
    # Redis quotes arguments, each followed by a space, until the list reaches 128 bytes; the last
    # one is cut to fit.
    shown = b""
    for arg in args:
        if len(shown) >= 128:
            break
        shown += b"'%s' " % arg[: 128 - len(shown)]
    text = b"ERR unknown command '%s', with args beginning with: %s" % (name[:128], shown)
    return b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def unknown_subcommand(sub: bytes, command: str) -> bytes:
    return b"-ERR unknown subcommand '%s'. Try %s HELP.\r\n" % (
        _printable(sub[:128]).encode(),
        command.upper().encode(),
    )


def error_reply(message: str) -> bytes:
    """Encode an error message as a RESP error; newlines would break the frame, so they become spaces."""
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def error_with(template: str, *parts: bytes) -> bytes:
    """An error reply quoting arguments the way Redis's ``%s`` does: each cut at its first NUL (a C
    string), and CR and LF turned into spaces so the frame stays whole."""
    quoted = tuple(part.split(b"\x00", 1)[0] for part in parts)
    text = template.encode().replace(b"{}", b"%s") % quoted
    return b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def subcommand_syntax(args: list[bytes]) -> bytes:
    """Redis's addReplySubcommandSyntaxError: the subcommand as sent, the command in capitals."""
    text = b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP." % (
        args[1].split(b"\x00", 1)[0][:128],
        args[0].upper(),
    )
    return b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"


def _printable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")


class ValueNotAnIntegerError(NotAnIntegerError):
    """The Python API's incr/decr found a value that is not an integer; the message names the key."""

    def __init__(self, key: bytes) -> None:
        super().__init__(f"value of key {key!r} is not an integer or out of range")
        self.key = key


# -- connection and server commands (leakdb/commands/connection.py, leakdb/commands/server.py) ----------

AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
WRONGPASS_TEXT = "WRONGPASS invalid username-password pair or user is disabled."
HELLO_NOAUTH = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH "
    "<user> <pass> option can be used to authenticate the client and select the RESP protocol "
    "version at the same time"
)
NOPROTO = "NOPROTO unsupported protocol version"
PROTOCOL_VERSION_NOT_INTEGER = "ERR Protocol version is not an integer or out of range"
HELLO_SYNTAX = "ERR Syntax error in HELLO option '{}'"
SYNTAX_TEXT = "ERR syntax error"
DB_INDEX_TEXT = "ERR DB index is out of range"
CLIENT_NAME_INVALID = "ERR Client names cannot contain spaces, newlines or special characters."
CLIENT_LIB_INVALID = "ERR {} cannot contain spaces, newlines or special characters."
NO_SUCH_CLIENT = "ERR No such client"
CLIENT_ID_INVALID = "ERR client-id should be greater than 0"
CLIENT_LIST_ID_INVALID = "ERR Invalid client ID"
UNKNOWN_CLIENT_TYPE = "ERR Unknown client type '{}'"
NO_SUCH_USER = "ERR No such user '{}'"
PAUSE_TIMEOUT_INVALID = "ERR timeout is not an integer or out of range"
PAUSE_MODE_INVALID = "ERR CLIENT PAUSE mode must be WRITE or ALL"
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
NO_CONFIG_FILE = "ERR The server is running without a config file"
CONFIG_REWRITE_FAILED = "ERR Rewriting config file: {}"
CONFIG_DUPLICATE = "ERR CONFIG SET failed (possibly related to argument '{}') - duplicate parameter"
CONFIG_BAD_VALUE = "ERR CONFIG SET failed (possibly related to argument '{}') - {}"
CONFIG_NOT_INTEGER = "argument couldn't be parsed into an integer"
CONFIG_NOT_OCTAL = "argument couldn't be parsed as an octal number"
CONFIG_NOT_BOOL = "argument must be 'yes' or 'no'"
CONFIG_NOT_MEMORY = "argument must be a memory value"
CONFIG_NOT_CHOICE = "argument(s) must be one of the following: {}"
CONFIG_BAD_EVENT_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
CONFIG_OUT_OF_RANGE = "argument must be between {} and {} inclusive"
CONFIG_BAD_PERCENTILES = "Invalid latency-tracking-info-percentiles parameters"
CONFIG_PERCENTILE_RANGE = "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
CONFIG_SAVE_INVALID = "Invalid save parameters"
CONFIG_DBFILENAME_PATH = "dbfilename can't be a path, just a filename"
CONFIG_NAMED_EMPTY = "{} can't be empty"
CONFIG_BAD_HOSTNAME = "Hostnames may only contain alphanumeric characters, hyphens or dots"
CONFIG_BAD_TEMPLATE = "template format is invalid or contains unknown variables"
CONFIG_OOM_VALUES = "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
CONFIG_PROTECTED = "ERR CONFIG SET failed (possibly related to argument '{}') - can't set protected config"
CONFIG_PORT_FAILED = "Unable to listen on this port. Check server logs."
CONFIG_BIND_FAILED = "Failed to bind to specified addresses."
# Settings LeakDB keeps but cannot act on as Redis would, worded as Redis words its own reasons.
CONFIG_NO_REPLICATION = "LeakDB has no replication: it can't be a replica (use replicaof no one)"
CONFIG_STORAGE_FIXED = (
    "LeakDB's storage mode is chosen at start-up (--storage, or appendonly and appendfsync in the "
    "config file) and can't change while it runs"
)
OUTPUT_LIMIT_ARGS = "Wrong number of arguments in buffer limit configuration."
OUTPUT_LIMIT_CLASS = "Invalid client class specified in buffer limit configuration."
OUTPUT_LIMIT_VALUES = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
# Settings Redis does not have, worded as Redis words its own.
CONFIG_NOT_SECONDS = "argument must be a number of seconds, 0 or more"
CONFIG_EMPTY = "argument can't be empty"
CONFIG_NOT_CLASS_PATH = "argument must be module:Class (an importable module and a class in it)"
CONFIG_NOT_VALID = "argument couldn't be parsed"
CONFIG_NOT_MEMORY_OR_PERCENT = "argument must be a memory or percent value"
CONFIG_PERCENT_TOO_BIG = "percentage argument must be less or equal to 100"
BUFFER_LIMIT_ARGUMENTS = "Wrong number of arguments in buffer limit configuration."
BUFFER_LIMIT_CLASS = "Invalid client class specified in buffer limit configuration."
BUFFER_LIMIT_VALUES = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
INVALID_COMMAND = "ERR Invalid command specified"
NO_KEY_ARGS = "ERR The command has no key arguments"
INVALID_ARGS_FOR_KEYS = "ERR Invalid number of arguments specified for command"
INVALID_ARGS_FOR_COMMAND = "ERR Invalid arguments specified for command"
BGSAVE_IN_PROGRESS = "ERR Background save already in progress"
SAVE_FAILED = "ERR {}"
NO_SHUTDOWN_IN_PROGRESS = "ERR No shutdown in progress."
DEBUG_NOT_IN_LEAKDB = (
    "ERR DEBUG {} acts on Redis's C process or allocator: LeakDB has nothing it could act on"
)
DEBUG_PACKED_THRESHOLD = "ERR argument must be a memory value bigger than 1 and smaller than 4gb"
DEBUG_NOT_LISTPACK = "ERR Not a listpack encoded object."
DEBUG_NOT_QUICKLIST = "ERR Not a quicklist encoded object."
DEBUG_PROTOCOL_TYPES = (
    "ERR Wrong protocol type name. Please use one of the following: "
    "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"
)
DEBUG_UNKNOWN = "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP."
FUNCTION_FLUSH_MODE = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
SCRIPT_FLUSH_MODE = "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
CLUSTER_DISABLED = "ERR This instance has cluster support disabled"
UNRECOGNIZED_OPTION = "ERR Unrecognized option '{}'"
PAUSE_TIMEOUT_NEGATIVE = "ERR timeout is negative"

# Replication (leakdb/commands/replication.py): LeakDB is always a master with no replicas.
FAILOVER_NO_REPLICAS = "ERR FAILOVER requires connected replicas."
FAILOVER_NOT_IN_PROGRESS = "ERR No failover in progress."
FAILOVER_TIMEOUT = "ERR FAILOVER timeout must be greater than 0"
INVALID_MASTER_PORT = "ERR Invalid master port"
UNBLOCK_REASON = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
DENY_BLOCKING = "ERR {} isn't allowed for a DENY BLOCKING client"
NO_REPLICATION = (
    "ERR LeakDB does not replicate: it cannot become a replica of another server "
    "({} NO ONE is accepted, as it already is a master)"
)
CLIENT_SUBCOMMAND_USAGE = "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP."

# Generic key commands (leakdb/commands/keys.py).
EXPIRE_NX_CONFLICT = b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
EXPIRE_GT_LT_CONFLICT = b"-ERR GT and LT options at the same time are not compatible\r\n"
UNSUPPORTED_OPTION = "ERR Unsupported option {}"
SAME_OBJECT = b"-ERR source and destination objects are the same\r\n"
INVALID_CURSOR = b"-ERR invalid cursor\r\n"
INT_RANGE = b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"
LFU_NOT_SELECTED = (
    b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
    b"when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
)
LRU_NOT_SELECTED = (
    b"-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
    b"when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
)
OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
CONFIG_UNKNOWN = "ERR Unknown option or number of arguments for CONFIG SET - '{}'"
CONFIG_IMMUTABLE = "ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config"
INT32_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"

# Hash and set commands (leakdb/commands/hashes.py, leakdb/commands/sets.py).
HASH_NOT_INTEGER = b"-ERR hash value is not an integer\r\n"
HASH_NOT_FLOAT = b"-ERR hash value is not a float\r\n"
INCREMENT_NAN_OR_INFINITY = b"-ERR value is NaN or Infinity\r\n"
VALUE_OUT_OF_RANGE = b"-ERR value is out of range\r\n"
MUST_BE_POSITIVE = b"-ERR value is out of range, must be positive\r\n"
LONG_RANGE = (
    b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"
)
NUMKEYS_NOT_POSITIVE = b"-ERR numkeys should be greater than 0\r\n"
NUMKEYS_TOO_MANY = b"-ERR Number of keys can't be greater than number of args\r\n"
LIMIT_NEGATIVE = b"-ERR LIMIT can't be negative\r\n"

# Sorted set commands (leakdb/commands/zsets.py).
ZADD_XX_AND_NX = "ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIRS = "ERR INCR option supports a single increment-element pair"
SCORE_NAN = "ERR resulting score is not a number (NaN)"
MIN_MAX_NOT_FLOAT = "ERR min or max is not a float"
MIN_MAX_NOT_LEX = "ERR min or max not valid string range item"
LIMIT_NEEDS_BY = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
WITHSCORES_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
NEEDS_INPUT_KEY = "ERR at least 1 input key is needed for '{}' command"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"

# List commands and blocking pops (leakdb/commands/lists.py, leakdb/blocking.py); they also use
# MUST_BE_POSITIVE, NUMKEYS_NOT_POSITIVE and COUNT_NOT_POSITIVE above.
LPOS_RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
LPOS_COUNT_NEGATIVE = "ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"

# Stream commands (leakdb/commands/streams.py).
STREAM_INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
STREAM_ID_TOO_SMALL = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
STREAM_ID_ZERO = "ERR The ID specified in XADD must be greater than 0-0"
# streamAppendItem fails an `<ms>-*` past a full sequence without setting errno, so Redis 7.0 says this:
STREAM_TOO_LARGE = "ERR Elements are too large to be stored"
STREAM_EXHAUSTED = "ERR The stream has exhausted the last possible ID, unable to add more items"
STREAM_TRIM_CONFLICT = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
STREAM_MAXLEN_NEGATIVE = "ERR The MAXLEN argument must be >= 0."
STREAM_LIMIT_NEGATIVE = "ERR The LIMIT argument must be >= 0."
STREAM_LIMIT_NO_STRATEGY = "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
STREAM_LIMIT_NOT_APPROX = "ERR syntax error, LIMIT cannot be used without the special ~ option"
XTRIM_NO_STRATEGY = "ERR syntax error, XTRIM must be called with a trimming strategy"
STREAM_INVALID_START = "ERR invalid start ID for the interval"
STREAM_INVALID_END = "ERR invalid end ID for the interval"


# -- leakdb-server's command line, config file and start-up (leakdb/config.py, leakdb/server/cli.py) --
# Each is one line on standard error after "leakdb-server: "; Redis's words where Redis has them.

CONFIG_BAD_DIRECTIVE = "Bad directive or wrong number of arguments"
CONFIG_WRONG_ARGUMENTS = "wrong number of arguments"
CONFIG_UNBALANCED_QUOTES = "Unbalanced quotes in configuration line"
CONFIG_NOT_UTF8 = "not UTF-8 text (byte 0x{:02x})"
# file, line number, the directive, why, the line itself: Redis's "FATAL CONFIG FILE ERROR" on one line.
CONFIG_FILE_ERROR = "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) *** {}:{}: '{}': {} (>>> '{}')"
CONFIG_NO_SUCH_COMMAND = "No such command in rename-command"
CONFIG_RENAME_EXISTS = "Target command name already exists"
CONFIG_INCLUDE_UNREADABLE = "cannot read included file {!r}: {}"
CONFIG_INCLUDE_LOOP = "include loop: {!r} includes itself"
CONFIG_NO_MODULES = "LeakDB can't load Redis modules"
CONFIG_SENTINEL = "LeakDB is not a Sentinel"
# A directive LeakDB reads and keeps but does not act on: one warning line at start-up.
CONFIG_NO_EFFECT = "{}: '{}' has no effect in LeakDB: {}"
FLAG_NO_EFFECT = "--{} has no effect in LeakDB: {}"
CONFIG_DEPRECATED = "Configuration option '{}' is deprecated and will be ignored"
CONFIG_FILE_UNREADABLE = "cannot read config file {!r}: {}"
CONFIG_FLAG_ERROR = "bad value for --{} {!r}: {}"
USAGE_HINT = "{} (leakdb-server --help lists every flag)"
PROTECTED_MODE = (
    "refusing to listen on {} without a password: set --requirepass, "
    "or turn protection off with --protected-mode no"
)
DATA_DIR_ERROR = "cannot keep the data file in {!r} (dir): {}"
DATA_DIR_MISSING = "no such directory"
DATA_DIR_NOT_DIRECTORY = "not a directory"
DATA_DIR_NOT_WRITABLE = "cannot create files there ({})"
DATA_FILE_READONLY = "cannot open the data file: {} is not writable: {}"
DATA_FILE_ERROR = "cannot open the data file: {}"
LOG_FILE_ERROR = "cannot open the log file {!r} (logfile): {}"
LISTEN_ERROR = "cannot listen on {}:{} (bind, port): {}"
PORT_IN_USE_HINT = "; another server (a system Redis?) has that port: choose another with --port"
STORAGE_CLASS_NO_MODULE = (
    "storage-class {}: no module named {!r} (looked in the current directory and sys.path)"
)
STORAGE_CLASS_IMPORT_FAILED = "storage-class {}: importing {!r} failed: {}"
STORAGE_CLASS_NO_ATTRIBUTE = "storage-class {}: module {!r} has no attribute {!r}"
STORAGE_CLASS_NOT_STORAGE = (
    "storage-class {}: {} is not a LeakDB storage class (a subclass of leakdb.DefaultStorage)"
)
STORAGE_CLASS_SIGNATURE = "storage-class {}: cannot call {}{}: {}"
STORAGE_CLASS_FAILED = "storage-class {}: creating the storage failed: {}"
STORAGE_CLASS_MODE = (
    "storage {} does not match storage-class {}, whose mode is {!r}: leave the storage setting out, "
    "or make them agree"
)
STORAGE_CLOSE_FAILED = "closing the storage failed: {}"
INTERRUPTED = "interrupted before the server was ready; nothing was served"

# The upstream backend (--backend redis).
UPSTREAM_NEEDS_PERSISTENT_MODE = "--backend redis needs --storage persistent or persistent-queue"
UPSTREAM_MISSING = "--backend redis needs --upstream URL or --upstream-cluster URL,URL,..."
UNIX_SOCKET_ERROR = "cannot listen on unix socket {} (unixsocket): {}"
LISTEN_NOWHERE = "Configured to not listen anywhere, exiting."
# Bitmap and bitfield commands (leakdb/commands/bitmaps.py, leakdb/commands/bitfield.py).
BIT_OFFSET_INVALID = "ERR bit offset is not an integer or out of range"
BIT_VALUE_INVALID = "ERR bit is not an integer or out of range"
BITPOS_BIT_INVALID = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY = "ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE_INVALID = (
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
)
BITFIELD_OVERFLOW_INVALID = "ERR Invalid OVERFLOW type specified"
BITFIELD_RO_GET_ONLY = "ERR BITFIELD_RO only supports the GET subcommand"

# LCS (leakdb/commands/lcs.py).
LCS_NOT_STRINGS = "ERR The specified keys must contain string values"
LCS_IDX_AND_LEN = "ERR If you want both the length and indexes, please just use IDX."
LCS_TABLE_TOO_BIG = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"

# SORT and SORT_RO (leakdb/commands/sort.py).
SORT_NOT_DOUBLE = "ERR One or more scores can't be converted into double"
# HyperLogLog commands (leakdb/commands/hyperloglog.py, leakdb/engine/hyperloglog.py).


class NotAnHLLError(CommandError, TypeError):
    """A string that is not a HyperLogLog (its header is not one Redis would write)."""

    message = "WRONGTYPE Key is not a valid HyperLogLog string value."


class CorruptHLLError(CommandError, ValueError):
    """A sparse HyperLogLog whose opcodes do not cover exactly its 16384 registers."""

    message = "INVALIDOBJ Corrupted HLL object detected"


HLL_INVALID = b"-" + CorruptHLLError.message.encode() + b"\r\n"
HLL_NO_KEY = b"-ERR The specified key does not exist\r\n"
HLL_NOT_SPARSE = b"-ERR HLL encoding is not sparse\r\n"
PFDEBUG_UNKNOWN = b"-ERR Unknown PFDEBUG subcommand '%s'\r\n"

# Geo commands (leakdb/commands/geo.py).
GEO_INVALID_POSITION = b"-ERR invalid longitude,latitude pair %f,%f\r\n"
GEO_UNIT = b"-ERR unsupported unit provided. please use M, KM, FT, MI\r\n"
GEO_NEED_RADIUS = b"-ERR need numeric radius\r\n"
GEO_NEED_WIDTH = b"-ERR need numeric width\r\n"
GEO_NEED_HEIGHT = b"-ERR need numeric height\r\n"
GEO_RADIUS_NEGATIVE = b"-ERR radius cannot be negative\r\n"
GEO_BOX_NEGATIVE = b"-ERR height or width cannot be negative\r\n"
GEO_MEMBER_UNKNOWN = b"-ERR could not decode requested zset member\r\n"
GEO_COUNT = b"-ERR COUNT must be > 0\r\n"
GEO_STORE_OPTIONS = b"-ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options\r\n"
GEO_FROM = b"-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s\r\n"
GEO_BY = b"-ERR exactly one of BYRADIUS and BYBOX can be specified for %s\r\n"
GEO_ANY = b"-ERR the ANY argument requires COUNT argument\r\n"
XSETID_BELOW_TOP = "ERR The ID specified in XSETID is smaller than the target stream top item"
XSETID_ENTRIES_ADDED_SMALL = (
    "ERR The entries_added specified in XSETID is smaller than the target stream length"
)
XSETID_ENTRIES_ADDED_NEGATIVE = "ERR entries_added must be positive"
XSETID_BELOW_MAX_DELETED = "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"

TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"

# Stream reads and consumer groups (leakdb/commands/stream_reads.py, stream_groups.py, stream_info.py).
# Redis 7.0 names XREAD and '$' in this error for XREADGROUP too.
XREAD_UNBALANCED = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
XREAD_GROUP_OPTION = "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
XREAD_NOACK_OPTION = "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
XREADGROUP_NO_GROUP_OPTION = "ERR Missing GROUP option for XREADGROUP"
XREADGROUP_DOLLAR = (
    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this "
    "consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just "
    "return an empty result set."
)
XREAD_GREATER_THAN = (
    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
)
XREADGROUP_NOGROUP = "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option"
XREADGROUP_GROUP_GONE = "NOGROUP the consumer group this client was blocked on no longer exists"
XREADGROUP_KEY_GONE = "UNBLOCKED the stream key no longer exists"
NOGROUP_KEY_OR_GROUP = "NOGROUP No such key '{}' or consumer group '{}'"
NOGROUP_FOR_KEY = "NOGROUP No such consumer group '{}' for key name '{}'"
XGROUP_KEY_MISSING = (
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the "
    "MKSTREAM option to create an empty stream automatically."
)
XGROUP_BUSYGROUP = "BUSYGROUP Consumer Group name already exists"
XGROUP_ENTRIES_READ = "ERR value for ENTRIESREAD must be positive or -1"
XCLAIM_MIN_IDLE = "ERR Invalid min-idle-time argument for XCLAIM"
XCLAIM_OPTION_VALUE = "ERR Invalid {} option argument for XCLAIM"
XCLAIM_UNRECOGNIZED = "ERR Unrecognized XCLAIM option '{}'"
XAUTOCLAIM_MIN_IDLE = "ERR Invalid min-idle-time argument for XAUTOCLAIM"
XAUTOCLAIM_COUNT = "ERR COUNT must be > 0"
XAUTOCLAIM_COUNT_MEMORY = "ERR Insufficient memory, failed allocating transient memory, COUNT too high."
# DUMP, RESTORE and MIGRATE (leakdb/commands/dump.py) and the RDB value codec (leakdb/rdb/).


class BadDataFormatError(CommandError, ValueError):
    """A serialized value that does not decode: RESTORE's reply, and what the RDB codec raises."""

    message = "ERR Bad data format"


class DumpPayloadError(CommandError, ValueError):
    """A DUMP payload whose footer names a newer RDB version or whose CRC-64 does not match."""

    message = "ERR DUMP payload version or checksum are wrong"


BUSYKEY = b"-BUSYKEY Target key name already exists.\r\n"
RESTORE_TTL_INVALID = b"-ERR Invalid TTL value, must be >= 0\r\n"
RESTORE_IDLETIME_INVALID = b"-ERR Invalid IDLETIME value, must be >= 0\r\n"
RESTORE_FREQ_INVALID = b"-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"
MIGRATE_KEYS_NEED_EMPTY_KEY = (
    b"-ERR When using MIGRATE KEYS option, the key argument must be set to the empty string\r\n"
)
MIGRATE_NOKEY = b"+NOKEY\r\n"
MIGRATE_CONNECT_FAILED = b"-IOERR error or timeout connecting to the client\r\n"
MIGRATE_IO_ERROR = "IOERR error or timeout {} to target instance"  # "reading" or "writing"
MIGRATE_TARGET_ERROR = "ERR Target instance replied with error: {}"
# Scripting: EVAL, SCRIPT, FUNCTION, FCALL and the Lua API (leakdb/commands/scripting/).  Texts without
# a code get "ERR " in front when they are replied.
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = (
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either "
    "wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
)
BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
NUMKEYS_TOO_MANY_TEXT = "ERR Number of keys can't be greater than number of args"
NUMKEYS_NEGATIVE = "ERR Number of keys can't be negative"
NUMKEYS_BAD = "ERR Bad number of keys provided"
SCRIPT_COMPILE = "ERR Error compiling script (new function): {}"
SCRIPT_RUN_FAILED = "ERR Error running script {}, {}"
SHEBANG_INVALID = "ERR Invalid script shebang"
SHEBANG_ENGINE_INVALID = "ERR Invalid engine in script shebang"
SHEBANG_ENGINE_UNEXPECTED = "ERR Unexpected engine in script shebang: {}"
SHEBANG_FLAG_UNEXPECTED = "ERR Unexpected flag in script shebang: {}"
SHEBANG_OPTION_UNKNOWN = "ERR Unknown lua shebang option: {}"
SCRIPT_WRITE_WITH_RO = "ERR Can not execute a script with write flag using *_ro command."
SCRIPT_OOM = "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"
SCRIPT_MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
    "Writable scripts are blocked. Use 'no-writes' flag for read only scripts."
)
SCRIPT_DEBUG_USAGE = "ERR Use SCRIPT DEBUG YES/SYNC/NO"
SCRIPT_DEBUG_UNSUPPORTED = "ERR SCRIPT DEBUG YES and SYNC are not supported: LeakDB has no Lua debugger"
SCRIPT_NEEDS_SERVER = "ERR '{}' needs a running server"

# What a script's redis.call/pcall and the Lua API raise; "ERR " is added as Redis adds it.
LUA_UNKNOWN_COMMAND = "Unknown Redis command called from script"
LUA_WRONG_ARITY = "Wrong number of args calling Redis command from script"
LUA_NOSCRIPT_COMMAND = "This Redis command is not allowed from script"
LUA_WRITE_IN_READONLY = "Write commands are not allowed from read-only scripts."
LUA_NO_ARGUMENTS = "Please specify at least one argument for this redis lib call"
LUA_BAD_ARGUMENTS = "Lua redis lib command arguments must be strings or integers"
LUA_OUTSIDE_SCRIPT = "redis.call/pcall can only be called inside a script invocation"
LUA_CANNOT_BLOCK = "This command would block, which a script cannot do"
LUA_KILLED = "Script killed by user with SCRIPT KILL..."
LUA_LOAD_TIMEOUT = "FUNCTION LOAD timeout"
LUA_NONEXISTENT_GLOBAL = "Script attempted to access nonexistent global variable '{}'"
LUA_READONLY_TABLE = "Attempt to modify a readonly table"
LUA_WRONG_NUMBER = "wrong number of arguments"
LUA_WRONG_NUMBER_OR_TYPE = "wrong number or type of arguments"
LUA_LOG_ARGUMENTS = "redis.log() requires two arguments or more."
LUA_LOG_LEVEL_TYPE = "First argument must be a number (log level)."
LUA_LOG_LEVEL = "Invalid debug level."
LUA_SETRESP_ARGUMENTS = "redis.setresp() requires one argument."
LUA_SETRESP_VERSION = "RESP version must be 2 or 3."
LUA_SET_REPL_ARGUMENTS = "redis.set_repl() requires two arguments."
LUA_SET_REPL_FLAGS = "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
LUA_ACL_CHECK_INVALID = "Invalid command passed to redis.acl_check_cmd()"
LUA_REGISTER_OUTSIDE_LOAD = "redis.register_function can only be called on FUNCTION LOAD command"
LUA_REGISTER_ARGUMENTS = "wrong number of arguments to redis.register_function"
LUA_REGISTER_NAMED_NOT_TABLE = (
    "calling redis.register_function with a single argument is only applicable to Lua table "
    "(representing named arguments)."
)
LUA_REGISTER_KEY_NOT_STRING = "named argument key given to redis.register_function is not a string"
LUA_REGISTER_NAME_NOT_STRING = "function_name argument given to redis.register_function must be a string"
LUA_REGISTER_DESCRIPTION_NOT_STRING = "description argument given to redis.register_function must be a string"
LUA_REGISTER_CALLBACK_NOT_FUNCTION = "callback argument given to redis.register_function must be a function"
LUA_REGISTER_FLAGS_NOT_TABLE = (
    "flags argument to redis.register_function must be a table representing function flags"
)
LUA_REGISTER_UNKNOWN_FLAG = "unknown flag given"
LUA_REGISTER_UNKNOWN_ARGUMENT = "unknown argument given to redis.register_function"
LUA_REGISTER_NO_NAME = "redis.register_function must get a function name argument"
LUA_REGISTER_NO_CALLBACK = "redis.register_function must get a callback argument"
LUA_REGISTER_FIRST_NOT_STRING = "first argument to redis.register_function must be a string"
LUA_REGISTER_SECOND_NOT_FUNCTION = "second argument to redis.register_function must be a function"

# FUNCTION and FCALL (leakdb/commands/scripting/functions.py).
FUNCTION_NOT_FOUND = "ERR Function not found"
LIBRARY_NOT_FOUND = "ERR Library not found"
LIBRARY_METADATA_MISSING = "Missing library metadata"
LIBRARY_METADATA_INVALID = "Invalid library metadata"
LIBRARY_METADATA_NAME_TWICE = "Invalid metadata value, name argument was given multiple times"
LIBRARY_METADATA_VALUE = "Invalid metadata value given: {}"
LIBRARY_NAME_MISSING = "Library name was not given"
# Redis 7.0.15 words a bad function name the same way as a bad library name.
LIBRARY_NAME_INVALID = (
    "Library names can only contain letters, numbers, or underscores(_) and must be at least one "
    "character long"
)
LIBRARY_ENGINE_NOT_FOUND = "Engine '{}' not found"
LIBRARY_EXISTS = "Library '{}' already exists"
LIBRARY_EXISTS_RESTORE = "Library {} already exists"
LIBRARY_COMPILE = "Error compiling function: {}"
LIBRARY_REGISTER = "Error registering functions: {}"
LIBRARY_NO_FUNCTIONS = "No functions registered"
FUNCTION_EXISTS = "Function {} already exists"
FUNCTION_EXISTS_IN_LIBRARY = "Function already exists in the library"
FUNCTION_LOAD_OPTION = "ERR Unknown option given: {}"
FUNCTION_CODE_MISSING = "ERR Function code is missing"
FUNCTION_LIST_NAME_MISSING = "ERR library name argument was not given"
FUNCTION_LIST_ARGUMENT = "ERR Unknown argument {}"
FUNCTION_RESTORE_POLICY = "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
FUNCTION_RESTORE_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
FUNCTION_RESTORE_TYPE = "can not read data type"
FUNCTION_RESTORE_NOT_FUNCTION = "given type is not a function"
FUNCTION_RESTORE_FAILED = "failed loading the given functions payload"
SUBCOMMAND_SYNTAX = "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP."


# CLIENT TRACKING and CLIENT CACHING.
TRACKING_NO_REDIRECT_CLIENT = "ERR The client ID you want redirect to does not exist"
TRACKING_ONE_REDIRECT = "ERR A client can only redirect to a single other client"
TRACKING_PREFIX_NEEDS_BCAST = "ERR PREFIX option requires BCAST mode to be enabled"
TRACKING_SWITCH_BCAST = (
    "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then "
    "re-enabling it with a different mode."
)
TRACKING_OPTIN_AND_OPTOUT = "ERR You can't specify both OPTIN mode and OPTOUT mode"
TRACKING_OPT_WITH_BCAST = "ERR OPTIN and OPTOUT are not compatible with BCAST"
TRACKING_SWITCH_OPT = (
    "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then "
    "re-enabling it with a different mode."
)
TRACKING_PREFIX_OVERLAPS_EXISTING = (
    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap."
)
TRACKING_PREFIX_OVERLAPS_GIVEN = (
    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not "
    "overlap."
)
CACHING_NEEDS_OPT = (
    "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode "
    "enabled"
)
CACHING_YES_NEEDS_OPTIN = "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
CACHING_NO_NEEDS_OPTOUT = "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
# -- ACL (leakdb/commands/acl.py) -----------------------------------------------------------------

NOPERM_COMMAND = "NOPERM this user has no permissions to run the '{}' command"
NOPERM_KEY = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = "NOPERM this user has no permissions to access one of the channels used as arguments"
DRYRUN_COMMAND = "This user has no permissions to run the '{}' command"
DRYRUN_KEY = "This user has no permissions to access the '{}' key"
DRYRUN_CHANNEL = "This user has no permissions to access the '{}' channel"
SCRIPT_NOPERM_COMMAND = "ERR The user executing the script can't run this command or subcommand"
SCRIPT_NOPERM_KEY = (
    "ERR The user executing the script can't access at least one of the keys mentioned in the "
    "command arguments"
)
SCRIPT_NOPERM_CHANNEL = (
    "ERR The user executing the script can't publish to the channel mentioned in the command"
)
ACL_SAVE_FAILED = (
    "ERR There was an error trying to save the ACLs. Please check the server logs for more information"
)
ACL_LOAD_OPEN = "ERR Error loading ACLs, opening file '{}': {}"
ACL_FILE_LINE = (
    "ERR {}:{}: {}. WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
)
ACL_SETUSER_MODIFIER = "ERR Error in ACL SETUSER modifier '{}': {}"
ACL_BAD_USERNAME = "ERR Usernames can't contain spaces or null characters"
ACL_DELETE_DEFAULT = "ERR The 'default' user cannot be removed"
ACL_GENPASS_BITS = (
    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number "
    "up to 4096"
)
ACL_USER_NOT_FOUND = "ERR User '{}' not found"
ACL_COMMAND_NOT_FOUND = "ERR Command '{}' not found"
ACL_UNKNOWN_CATEGORY = "ERR Unknown category '{}'"
ACL_NO_FILE = (
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via "
    "the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration "
    "file set) in order to store users in the Redis configuration."
)
ACL_FILE_USER_CONFIG = (
    "ERR Configuring Redis with users defined in redis.conf and at the same setting an ACL file path "
    "is invalid. This setup is very likely to lead to configuration errors and security holes, please "
    "define either an ACL file or declare users directly in your redis.conf, but not both."
)

# Commands of a standalone server (leakdb/commands/standalone.py).
MODULE_LOAD_FAILED = b"-ERR Error loading the extension. Please check the server logs.\r\n"
MODULE_NOT_LOADED = b"-ERR Error unloading module: no such module with that name\r\n"
NO_APPEND_ONLY_FILE = (
    b"-ERR LeakDB has no append-only file to rewrite: the storage mode keeps the data file "
    b"(BGSAVE writes a snapshot)\r\n"
)
NO_REPLICAS = b"-ERR LeakDB does not replicate: it cannot serve replicas (SYNC, PSYNC and REPLCONF)\r\n"
