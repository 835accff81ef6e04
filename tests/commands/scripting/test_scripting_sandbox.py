"""The sandbox: a script never reaches Python, the host's Lua, or another script's state.

lupa hands Python objects to Lua unless told not to; these tests try every way in that a script has:
the globals lupa registers (``python``), the values reachable from ``_G`` and from metatables, the error
objects the API raises, loading bytecode, changing the globals or the libraries for the next script,
and exhausting memory, the Lua stack or Python's recursion.  The server and the data must survive.
"""

from __future__ import annotations

import pytest
import redis
from conftest import ServerProcess, free_port, leakdb_argv


def eval_(client: redis.Redis, script: str, *args) -> object:
    return client.eval(script, 0, *args)


# Walks everything a script can reach from _G, through tables and metatables, and reports each value
# whose type is not a plain Lua one, and each userdata: only cjson.null may be one.
WALK = """
local seen, found = {}, {}
local function walk(value, path)
  if seen[value] then return end
  local kind = type(value)
  if kind ~= 'table' and kind ~= 'function' and kind ~= 'string' and kind ~= 'number'
     and kind ~= 'boolean' and kind ~= 'nil' then
    if not rawequal(value, cjson.null) then found[#found + 1] = path .. ':' .. kind end
  end
  if kind == 'table' then
    seen[value] = true
    for key, item in pairs(value) do walk(item, path .. '.' .. tostring(key)) end
    walk(getmetatable(value), path .. '<meta>')
  elseif kind == 'function' or kind == 'userdata' or kind == 'string' then
    seen[value] = true
    local meta = getmetatable(value)
    if meta ~= nil then walk(meta, path .. '<meta>') end
  end
end
walk(_G, '_G')
walk(getmetatable(''), 'string<meta>')
return found
"""


def test_nothing_reachable_is_a_python_object(r):
    assert eval_(r, WALK) == []


@pytest.mark.parametrize(
    "script",
    [
        "return type(python)",
        "return rawget(_G, 'python')",
        "return type(_G.python)",
        "return type(package)",
        "return type(require)",
        "return type(debug)",
        "return type(getfenv)",
        "return type(setfenv)",
        "return type(newproxy)",
        "return type(os)",
        "return type(io)",
        "return type(dofile)",
        "return type(loadfile)",
        "return type(module)",
    ],
)
def test_host_globals_are_out_of_reach(r, script):
    with pytest.raises(redis.ResponseError, match="nonexistent global variable"):
        eval_(r, script.replace("rawget(_G, 'python')", "python"))


def test_api_functions_are_lua_functions(r):
    script = """
    local kinds = {}
    for _, f in ipairs({redis.call, redis.pcall, redis.log, cjson.encode, cmsgpack.pack, bit.band,
                        struct.pack, math.random, pcall, loadstring, tostring, coroutine.create}) do
      kinds[#kinds + 1] = type(f)
    end
    return kinds
    """
    assert eval_(r, script) == [b"function"] * 12


@pytest.mark.parametrize(
    "script",
    [
        "local ok, e = pcall(cjson.decode, 'x') return type(e)",
        "local ok, e = pcall(cjson.encode, function() end) return type(e)",
        "local ok, e = pcall(cmsgpack.unpack, '\\193') return type(e)",
        "local ok, e = pcall(struct.pack, 'q', 1) return type(e)",
        "local ok, e = pcall(bit.band, {}) return type(e)",
        "local ok, e = pcall(redis.call, {}) return type(e)",
        "local ok, e = pcall(redis.call, 'nosuch') return type(e)",
        "return type(select(2, xpcall(function() cjson.decode('x') end, function(e) return e end)))",
        "return type(select(2, xpcall(function() redis.call('nosuch') end, function(e) return e end)))",
    ],
)
def test_errors_of_the_api_are_lua_values(r, script):
    assert eval_(r, script) in (b"string", b"table")


def test_bytecode_cannot_be_loaded(r):
    script = "local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}"
    loaded, problem = eval_(r, script)
    assert loaded == b"nil" and b"unexpected symbol" in problem
    with pytest.raises(redis.ResponseError, match="unexpected symbol"):
        r.eval(b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00", 0)


@pytest.mark.parametrize(
    "attempt",
    [
        "redis.call = function() return 'hijacked' end",
        "rawset(redis, 'call', function() return 'hijacked' end)",
        "setmetatable(redis, {__index = function() return function() return 'hijacked' end end})",
        "string.upper = function() return 'hijacked' end",
        "rawset(string, 'upper', function() return 'hijacked' end)",
        "getmetatable('').__index = {upper = function() return 'hijacked' end}",
        "rawset(getmetatable(''), '__index', {upper = function() return 'hijacked' end})",
        "_G.tostring = function() return 'hijacked' end",
        "rawset(_G, 'tostring', function() return 'hijacked' end)",
        "setmetatable(_G, {})",
        "loadstring('tostring = function() return 1 end')()",
        "cjson.encode = nil",
        "math.random = function() return 4 end",
        "getmetatable(_G).__index = function() return 'hijacked' end",
    ],
)
def test_a_script_cannot_change_what_the_next_one_sees(r, attempt):
    with pytest.raises(redis.ResponseError, match="readonly table"):
        eval_(r, attempt)
    after = "return {redis.call('ping'), ('x'):upper(), string.upper('y'), tostring(1), cjson.encode({1})}"
    assert eval_(r, after) == [b"PONG", b"X", b"Y", b"1", b"[1]"]
    with pytest.raises(redis.ResponseError, match="nonexistent global variable 'undefined_name'"):
        eval_(r, "return undefined_name")


def test_globals_do_not_leak_between_scripts(r):
    eval_(r, "pcall(rawset, _G, 'leaked', 1) pcall(function() leaked = 1 end)")
    with pytest.raises(redis.ResponseError, match="nonexistent global variable 'leaked'"):
        eval_(r, "return leaked")


def test_keys_and_argv_belong_to_one_run(r):
    assert r.eval("KEYS[2] = 'extra' return #KEYS", 1, "k") == 2
    assert r.eval("return {#KEYS, #ARGV}", 1, "k", "a") == [1, 1]


@pytest.fixture(scope="module")
def small_lua(tmp_path_factory):
    """A leakdb-server whose Lua may allocate 48 MB, shared by the memory tests of this module."""
    port = free_port()
    argv = leakdb_argv(port, "--storage", "memory", "--lua-maxmemory", "48mb")
    server = ServerProcess(argv, port, cwd=str(tmp_path_factory.mktemp("small-lua")))
    client = server.client()
    yield client
    client.close()
    server.stop()


@pytest.mark.parametrize(
    "bomb",
    [
        "local t = {} while true do t[#t + 1] = string.rep('x', 1024 * 1024) .. #t end",
        "return string.rep('x', 2^30)",
        "local s = 'x' while true do s = s .. s end",
        "local t = {} for i = 1, 1e9 do t[i] = {i} end",
    ],
)
def test_an_allocation_bomb_fails_and_the_server_and_data_survive(small_lua, bomb):
    small_lua.set("before", "kept")
    with pytest.raises(redis.ResponseError, match="not enough memory"):
        small_lua.eval(bomb, 0)
    assert small_lua.get("before") == b"kept"
    assert small_lua.eval("return #string.rep('y', 1024 * 1024)", 0) == 1024 * 1024
    assert small_lua.ping()


def test_memory_is_given_back_after_a_bomb(small_lua):
    for _ in range(2):
        with pytest.raises(redis.ResponseError, match="not enough memory"):
            small_lua.eval("local t = {} while true do t[#t + 1] = string.rep('z', 65536) .. #t end", 0)
    assert (
        small_lua.eval("local t = {} for i = 1, 100 do t[i] = string.rep('w', 65536) .. i end return #t", 0)
        == 100
    )
    used = int(small_lua.info("memory")["used_memory_vm_eval"])
    assert used < 48 * 1024 * 1024


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("local function f() return 1 + f() end return f()", "stack overflow"),
        ("local t = {} t[1] = t return cjson.encode(t)", "excessive nesting"),
        ("local t = {} t.a = t return cmsgpack.pack(t) and 1", None),
        ("local t = {} for i = 1, 1200 do t = {t} end return t and 1", None),
        ("local t = {} for i = 1, 1200 do t = {t} end return t", None),
        ("return string.rep('[', 5000) and cjson.decode(string.rep('[', 5000))", "nested"),
    ],
)
def test_deep_structures_fail_cleanly(r, script, message):
    if message is None:
        r.eval(script, 0)
    else:
        with pytest.raises(redis.ResponseError, match=message):
            r.eval(script, 0)
    assert r.ping()


def test_in_process_scripts_share_the_storage_data():
    from leakdb import DefaultStorage
    from leakdb.errors import CommandError

    storage = DefaultStorage()
    assert storage.execute_command("EVAL", "return redis.call('incrby', KEYS[1], ARGV[1])", 1, "n", 5) == 5
    assert storage.execute_command("GET", "n") == b"5"
    sha = storage.execute_command("SCRIPT", "LOAD", "return redis.call('get', KEYS[1])")
    assert storage.execute_command("EVALSHA", sha, 1, "n") == b"5"
    with pytest.raises(CommandError, match="NOSCRIPT"):
        storage.execute_command("EVALSHA", "0" * 40, 0)
    with pytest.raises(CommandError, match="nonexistent global variable 'python'"):
        storage.execute_command("EVAL", "return python", 0)


def test_register_script_in_process():
    from leakdb import DefaultStorage

    storage = DefaultStorage()
    incrby = storage.register_script("return redis.call('incrby', KEYS[1], ARGV[1])")
    assert incrby(keys=["n"], args=[2]) == 2
    storage.execute_command("SCRIPT", "FLUSH")  # the next call loads the script again
    assert incrby(keys=["n"], args=[3]) == 5
    assert incrby(keys=["n"], args=[1], db=1) == 1
