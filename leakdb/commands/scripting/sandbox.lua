-- The sandbox scripts run in: built once per Lua runtime by engine.py, which passes the mode ("eval"
-- or "function") and `bridge`, a table of the Python functions the Redis Lua API calls into.
--
-- Scripts see only what Redis 7.0 leaves them: no os, io, require, dofile, debug, getfenv or setfenv,
-- and never lupa's `python` module or any Python object.  Globals and library tables are read-only,
-- as in Redis, through proxies: a proxy is an empty table whose metatable forwards reads to the table
-- it shows and refuses writes; rawset, setmetatable, next, pairs, rawget and getmetatable are wrapped
-- to honour that.  A count hook lets Python see long scripts (busy replies, SCRIPT KILL).
local mode, bridge = ...

local type, tostring, tonumber, select, error = type, tostring, tonumber, select, error
local next, rawget, rawset, rawequal = next, rawget, rawset, rawequal
local setmetatable, getmetatable, setfenv = setmetatable, getmetatable, setfenv
local pcall, xpcall, unpack = pcall, xpcall, unpack
local real_loadstring, real_load = loadstring, load
local getinfo, sethook = debug.getinfo, debug.sethook
local co_create, co_resume = coroutine.create, coroutine.resume
local floor, byte, format, concat = math.floor, string.byte, string.format, table.concat
local dump = string.dump
local meta_of = debug.getmetatable

local T = bridge.texts -- every message, from leakdb/errors.py
local untail = bridge.untail -- bytecode without tail calls (see bytecode.py)
local SANDBOX = getinfo(1, "S").source
local HOOK_COUNT = 100000

local function copy(source)
  local result = {}
  for key, value in next, source do
    result[key] = value
  end
  return result
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- -- read-only tables -----------------------------------------------------------------------------

local locked = setmetatable({}, { __mode = "k" }) -- tables scripts may not modify
local shows = setmetatable({}, { __mode = "k" }) -- proxy -> the table it shows

local function refuse_write()
  error(T.readonly, 2)
end

local function readonly(real)
  local proxy = setmetatable({}, { __index = real, __newindex = refuse_write, __metatable = false })
  locked[proxy] = true
  shows[proxy] = real
  return proxy
end

local function missing_global(_, name)
  error(format(T.nonexistent_global, tostring(name)), 2)
end

local function error_table(text)
  return { err = "ERR " .. text }
end

-- -- argument checks, worded as Lua's own ------------------------------------------------------------

local function typename(count, index, value)
  if index > count then
    return "no value"
  end
  return type(value)
end

local function expect(fname, index, wanted, count, value)
  if type(value) ~= wanted then
    error(
      format("bad argument #%d to '%s' (%s expected, got %s)", index, fname, wanted,
        typename(count, index, value)),
      3
    )
  end
end

-- A C int from a Lua number, as luaL_checkint reads it (truncated, then cut to 32 bits).
local function checkint(fname, index, count, value)
  local number = tonumber(value)
  if number == nil then
    error(
      format("bad argument #%d to '%s' (number expected, got %s)", index, fname,
        typename(count, index, value)),
      3
    )
  end
  if number ~= number or number >= 9.2233720368547758e18 or number < -9.2233720368547758e18 then
    return 0
  end
  number = number >= 0 and floor(number) or -floor(-number)
  number = number % 4294967296
  if number >= 2147483648 then
    number = number - 4294967296
  end
  return number
end

-- -- the count hook: Python decides whether a long script goes on ----------------------------------

local tick = bridge.tick
local hook

-- Line hooks that end a script (or a library's loading): every line of the script fails, lines of
-- this sandbox (returning the error to Python) run.
local function killed()
  local info = getinfo(2, "S")
  if info == nil or info.source ~= SANDBOX then
    error({ err = "ERR " .. T.killed })
  end
end

local function timed_out()
  local info = getinfo(2, "S")
  if info == nil or info.source ~= SANDBOX then
    error({ err = "ERR " .. T.load_timeout })
  end
end

hook = function()
  local verdict = tick()
  if verdict == 0 then
    return
  end
  -- From now on every line fails, so a pcall in the script cannot swallow the end.
  local stop = verdict == 1 and killed or timed_out
  sethook(stop, "l")
  error({ err = "ERR " .. (verdict == 1 and T.killed or T.load_timeout) })
end

local function hooked(thread)
  sethook(thread, hook, "", HOOK_COUNT)
  return thread
end

-- -- the globals ------------------------------------------------------------------------------------

local G = {} -- what scripts see as globals, through E (eval) or FE (functions)
local E = setmetatable({}, { __index = G, __newindex = refuse_write, __metatable = false })
locked[E] = true
shows[E] = G
locked[G] = true

local FE_meta = { __index = G, __newindex = refuse_write, __metatable = false }
local FE = setmetatable({}, FE_meta)
locked[FE] = true
shows[FE] = G

local ENV = mode == "eval" and E or FE -- the environment of scripts and of what they load

G._G = E
G._VERSION = _VERSION
for _, name in ipairs({ "assert", "collectgarbage", "error", "gcinfo", "ipairs", "rawequal", "select",
  "tonumber", "tostring", "type", "unpack", "xpcall" }) do
  G[name] = _G[name]
end

function G.rawget(...)
  local count, t, key = select("#", ...), ...
  expect("rawget", 1, "table", count, t)
  if count < 2 then
    error("bad argument #2 to 'rawget' (value expected)", 2)
  end
  return rawget(shows[t] or t, key)
end

function G.rawset(...)
  local count, t, key, value = select("#", ...), ...
  expect("rawset", 1, "table", count, t)
  if count < 2 then
    error("bad argument #2 to 'rawset' (value expected)", 2)
  end
  if count < 3 then
    error("bad argument #3 to 'rawset' (value expected)", 2)
  end
  if locked[t] then
    error(T.readonly, 0)
  end
  return rawset(t, key, value)
end

function G.next(...)
  local count, t, key = select("#", ...), ...
  expect("next", 1, "table", count, t)
  return next(shows[t] or t, key)
end

local script_next = G.next

function G.pairs(...)
  local count, t = select("#", ...), ...
  expect("pairs", 1, "table", count, t)
  return script_next, t, nil
end

local string_meta = readonly({}) -- filled once the string proxy exists
local views = setmetatable({}, { __mode = "k" })

function G.getmetatable(...)
  local count, value = select("#", ...), ...
  if count == 0 then
    error("bad argument #1 to 'getmetatable' (value expected)", 2)
  end
  if type(value) == "string" then
    return string_meta
  end
  local real = shows[value]
  if real == nil then
    return getmetatable(value)
  end
  local meta = getmetatable(real)
  if type(meta) ~= "table" then
    return meta
  end
  local view = views[meta]
  if view == nil then
    view = readonly(meta)
    views[meta] = view
  end
  return view
end

function G.setmetatable(...)
  local count, t, meta = select("#", ...), ...
  expect("setmetatable", 1, "table", count, t)
  if meta ~= nil and type(meta) ~= "table" then
    error("bad argument #2 to 'setmetatable' (nil or table expected)", 2)
  end
  if locked[t] then
    error(T.readonly, 0)
  end
  local current = meta_of(t)
  if current ~= nil and rawget(current, "__metatable") ~= nil then
    error("cannot change a protected metatable", 2)
  end
  return setmetatable(t, meta)
end

-- Redis 7's pcall hands back the message of an error table (what redis.call raises), not the table.
function G.pcall(...)
  if select("#", ...) == 0 then
    return -- what Redis's pcall gives back then
  end
  local result = pack(pcall(...))
  if not result[1] then
    local problem = result[2]
    if type(problem) == "table" then
      local message = problem.err
      if type(message) == "string" or type(message) == "number" then
        result[2] = message
      end
    end
  end
  return unpack(result, 1, result.n)
end

-- Redis's Lua reads every chunk as text: a precompiled one is refused by the parser, never loaded.
function G.loadstring(...)
  local count, code, name = select("#", ...), ...
  if type(code) == "number" then
    code = tostring(code)
  end
  expect("loadstring", 1, "string", count, code)
  if name == nil then
    name = code
  elseif type(name) == "number" then
    name = tostring(name)
  elseif type(name) ~= "string" then
    error(format("bad argument #2 to 'loadstring' (string expected, got %s)", type(name)), 2)
  end
  if byte(code, 1) == 27 then
    code = " " .. code
  end
  local chunk, problem = real_loadstring(code, name)
  if chunk then
    chunk = real_loadstring(untail(dump(chunk)))
    setfenv(chunk, ENV)
  end
  return chunk, problem
end

function G.load(...)
  local count, reader, name = select("#", ...), ...
  expect("load", 1, "function", count, reader)
  if name ~= nil and type(name) ~= "string" and type(name) ~= "number" then
    error(format("bad argument #2 to 'load' (string expected, got %s)", type(name)), 2)
  end
  local first = true
  local function read()
    local piece = reader()
    if first and type(piece) == "string" and piece ~= "" then
      first = false
      if byte(piece, 1) == 27 then
        piece = " " .. piece
      end
    end
    return piece
  end
  local chunk, problem = real_load(read, name or "=(load)")
  if chunk then
    chunk = real_loadstring(untail(dump(chunk)))
    setfenv(chunk, ENV)
  end
  return chunk, problem
end

-- -- libraries --------------------------------------------------------------------------------------

local string_lib = copy(string)
G.string = readonly(string_lib)
rawset(shows[string_meta], "__index", G.string)
G.table = readonly(copy(table))

local coroutine_lib = copy(coroutine)
function coroutine_lib.create(...)
  local count, body = select("#", ...), ...
  if type(body) ~= "function" then
    error("bad argument #1 to 'create' (Lua function expected)", 2)
  end
  local ok, thread = pcall(co_create, body)
  if not ok then
    error("bad argument #1 to 'create' (Lua function expected)", 2)
  end
  return hooked(thread)
end
function coroutine_lib.wrap(...)
  local body = ...
  local ok, thread = false, nil
  if type(body) == "function" then
    ok, thread = pcall(co_create, body)
  end
  if not ok then
    error("bad argument #1 to 'wrap' (Lua function expected)", 2)
  end
  hooked(thread)
  return function(...)
    local result = pack(co_resume(thread, ...))
    if result[1] then
      return unpack(result, 2, result.n)
    end
    local problem = result[2]
    if type(problem) == "string" then
      error(problem, 2)
    end
    error(problem)
  end
end
G.coroutine = readonly(coroutine_lib)

-- math.random is Redis's: the same 48-bit generator on every platform.
local math_lib = copy(math)
local lrand48, srand48 = bridge.lrand48, bridge.srand48
function math_lib.random(...)
  local count, low, high = select("#", ...), ...
  local r = (lrand48() % 2147483647) / 2147483647
  if count == 0 then
    return r
  end
  if count == 1 then
    local upper = checkint("random", 1, count, low)
    if upper < 1 then
      error("bad argument #1 to 'random' (interval is empty)", 2)
    end
    return floor(r * upper) + 1
  end
  if count == 2 then
    local lower = checkint("random", 1, count, low)
    local upper = checkint("random", 2, count, high)
    if lower > upper then
      error("bad argument #2 to 'random' (interval is empty)", 2)
    end
    return floor(r * (upper - lower + 1)) + lower
  end
  error(T.wrong_number, 2)
end
function math_lib.randomseed(...)
  local count, seed = select("#", ...), ...
  srand48(checkint("randomseed", 1, count, seed))
end
G.math = readonly(math_lib)

-- Python implementations (cjson, cmsgpack, bit, struct) answer (true, results...) or (false, message).
local function from_python(implementation)
  return function(...)
    local result = pack(implementation(...))
    if result[1] then
      return unpack(result, 2, result.n)
    end
    error(result[2], result[3] and 0 or 2)
  end
end

local function python_library(functions, extra)
  local library = extra or {}
  for name, implementation in next, functions do
    library[name] = from_python(implementation)
  end
  return readonly(library)
end

G.cmsgpack = python_library(bridge.cmsgpack, {
  _NAME = "cmsgpack",
  _VERSION = "lua-cmsgpack 0.4.0",
  _COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo",
  _DESCRIPTION = "MessagePack C implementation for Lua",
})
G.bit = python_library(bridge.bit)
G.struct = python_library(bridge.struct)

-- -- the redis table ----------------------------------------------------------------------------------

local call = bridge.call

local function redis_api()
  local api = {
    LOG_DEBUG = 0,
    LOG_VERBOSE = 1,
    LOG_NOTICE = 2,
    LOG_WARNING = 3,
    REDIS_VERSION = bridge.version,
    REDIS_VERSION_NUM = bridge.version_num,
  }
  local log = bridge.log
  function api.log(...)
    local count, level = select("#", ...), ...
    if count < 2 then
      error(error_table(T.log_arguments))
    end
    level = tonumber(level)
    if level == nil then
      error(error_table(T.log_level_type))
    end
    level = level >= 0 and floor(level) or -floor(-level)
    if level < 0 or level > 3 then
      error(error_table(T.log_level))
    end
    local parts = {}
    for index = 2, count do
      local piece = select(index, ...)
      local kind = type(piece)
      if kind == "string" or kind == "number" then
        if index ~= 2 then
          parts[#parts + 1] = " "
        end
        parts[#parts + 1] = tostring(piece)
      end
    end
    log(level, concat(parts))
  end
  return api
end

local redis = redis_api()
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3

function redis.call(...)
  local kind, value = call(...)
  if kind == 0 then
    return value
  elseif kind == 1 then
    return { ok = value }
  end
  error({ err = value, ignore_error_stats_update = true })
end

function redis.pcall(...)
  local kind, value = call(...)
  if kind == 0 then
    return value
  elseif kind == 1 then
    return { ok = value }
  end
  return { err = value, ignore_error_stats_update = true }
end

local sha1hex = bridge.sha1hex
function redis.sha1hex(...)
  local count, text = select("#", ...), ...
  if count ~= 1 then
    error(error_table(T.wrong_number))
  end
  if type(text) == "number" then
    text = tostring(text)
  elseif type(text) ~= "string" then
    text = ""
  end
  return sha1hex(text)
end

-- The "-CODE message" rule of Redis's luaPushErrorBuff.
local function error_reply(text)
  if byte(text, 1) ~= 45 then
    text = "-" .. text
  end
  local space = string.find(text, " ", 1, true)
  local code, message
  if space then
    code, message = string.sub(text, 2, space - 1), string.sub(text, space + 1)
  else
    code, message = "ERR", string.sub(text, 2)
  end
  message = string.gsub(message, "^[\r\n]+", "")
  message = string.gsub(message, "[\r\n]+$", "")
  return { err = code .. " " .. message }
end

function redis.error_reply(...)
  local count, text = select("#", ...), ...
  if count ~= 1 or type(text) ~= "string" then
    return error_table(T.wrong_number_or_type)
  end
  return error_reply(text)
end

function redis.status_reply(...)
  local count, text = select("#", ...), ...
  if count ~= 1 or type(text) ~= "string" then
    return error_table(T.wrong_number_or_type)
  end
  return { ok = text }
end

local setresp = bridge.setresp
function redis.setresp(...)
  local count, version = select("#", ...), ...
  if count ~= 1 then
    error(error_table(T.setresp_arguments))
  end
  version = tonumber(version) or 0
  if version ~= 2 and version ~= 3 then
    error(error_table(T.setresp_version))
  end
  setresp(version)
end

function redis.set_repl(...)
  local count, flags = select("#", ...), ...
  if count ~= 1 then
    error(error_table(T.set_repl_arguments))
  end
  flags = tonumber(flags) or 0
  flags = flags >= 0 and floor(flags) or -floor(-flags)
  if flags < 0 or flags > 3 then
    error(error_table(T.set_repl_flags))
  end
end

local acl_check = bridge.acl_check
function redis.acl_check_cmd(...)
  local kind, value = acl_check(...)
  if kind == 0 then
    return value
  end
  error({ err = value })
end

if mode == "eval" then
  function redis.breakpoint()
    return false -- no debugger session is ever active
  end
  function redis.debug() end
  function redis.replicate_commands()
    return true
  end
end

G.redis = readonly(redis)

-- -- errors -----------------------------------------------------------------------------------------

-- Redis's error handler: the error as a table, with the script line it happened on.  Frames of this
-- sandbox are invisible, so positions are the ones Redis reports.
local function handler(problem)
  local first, second
  local level = 2
  while true do
    local info = getinfo(level, "nSl")
    if info == nil then
      break
    end
    if info.source ~= SANDBOX then
      if first == nil then
        first = info
      else
        second = info
        break
      end
    end
    level = level + 1
  end
  local where = first
  if where and where.what == "C" then
    where = second
  end
  if type(problem) ~= "table" then
    problem = { err = "ERR " .. tostring(problem) }
  end
  if where then
    problem.source = where.source
    problem.line = where.currentline
  end
  return problem
end

if mode == "eval" then
  G.__redis__err__handler = handler
end

-- -- entry points for Python ------------------------------------------------------------------------

local exports = {}

-- A script body as a function of the sandbox, or nil and Lua's compile error.
function exports.compile(code, name)
  if byte(code, 1) == 27 then
    code = " " .. code
  end
  local chunk, problem = real_loadstring(code, name)
  if chunk == nil then
    return nil, problem
  end
  chunk = real_loadstring(untail(dump(chunk)))
  setfenv(chunk, ENV)
  return chunk
end

local function start()
  sethook(hook, "", HOOK_COUNT)
end

function exports.run_eval(body, key_count, ...)
  local all = { ... }
  local keys, argv = {}, {}
  for index = 1, key_count do
    keys[index] = all[index]
  end
  for index = key_count + 1, select("#", ...) do
    argv[index - key_count] = all[index]
  end
  rawset(G, "KEYS", keys)
  rawset(G, "ARGV", argv)
  start()
  local ok, result = xpcall(body, handler)
  return ok, result
end

function exports.run_eval_tables(body, keys, argv)
  rawset(G, "KEYS", keys)
  rawset(G, "ARGV", argv)
  start()
  local ok, result = xpcall(body, handler)
  return ok, result
end

local current, current_keys, current_args
local function call_current()
  return current(current_keys, current_args)
end

function exports.run_function(callback, keys, args)
  current, current_keys, current_args = callback, keys, args
  start()
  local ok, result = xpcall(call_current, handler)
  current, current_keys, current_args = nil, nil, nil
  return ok, result
end

-- cjson needs its null (a userdata made before the sandbox hid newproxy) and new() from Python.
function exports.add_cjson_extras(null, new_instance)
  local function make(functions)
    local library = {}
    for name, implementation in next, functions do
      library[name] = from_python(implementation)
    end
    library.null = null
    library._NAME = "cjson"
    library._VERSION = "2.1.0"
    function library.new()
      return make(new_instance())
    end
    return library
  end
  rawset(G, "cjson", readonly(make(bridge.cjson)))
  -- Redis's cjson.null is a NULL light userdata, which Lua prints as such.
  rawset(G, "tostring", function(...)
    if select("#", ...) == 0 then
      error("bad argument #1 to 'tostring' (value expected)", 2)
    end
    if rawequal((...), null) then
      return "userdata: (nil)"
    end
    return tostring(...)
  end)
end

-- -- FUNCTION LOAD ----------------------------------------------------------------------------------

if mode == "function" then
  local register = bridge.register_function
  local load_redis = redis_api()
  local flag_names = bridge.flag_names

  local function read_flags(flags)
    local bits = 0
    local index = 1
    while true do
      local flag = flags[index]
      if flag == nil then
        return bits
      end
      if type(flag) ~= "string" and type(flag) ~= "number" then
        return nil
      end
      local bit = flag_names[string.lower(tostring(flag))]
      if bit == nil then
        return nil
      end
      bits = bits + (bits % (2 * bit) >= bit and 0 or bit)
      index = index + 1
    end
  end

  local function named(arguments)
    if type(arguments) ~= "table" then
      return nil, T.register_named_not_table
    end
    local name, description, callback, flags = nil, nil, nil, 0
    for key, value in next, arguments do
      if type(key) ~= "string" and type(key) ~= "number" then
        return nil, T.register_key_not_string
      end
      local lowered = string.lower(tostring(key))
      if lowered == "function_name" then
        if type(value) ~= "string" and type(value) ~= "number" then
          return nil, T.register_name_not_string
        end
        name = tostring(value)
      elseif lowered == "description" then
        if type(value) ~= "string" and type(value) ~= "number" then
          return nil, T.register_description_not_string
        end
        description = tostring(value)
      elseif lowered == "callback" then
        if type(value) ~= "function" then
          return nil, T.register_callback_not_function
        end
        callback = value
      elseif lowered == "flags" then
        if type(value) ~= "table" then
          return nil, T.register_flags_not_table
        end
        flags = read_flags(value)
        if flags == nil then
          return nil, T.register_unknown_flag
        end
      else
        return nil, T.register_unknown_argument
      end
    end
    if name == nil then
      return nil, T.register_no_name
    end
    if callback == nil then
      return nil, T.register_no_callback
    end
    return name, callback, flags, description
  end

  function load_redis.register_function(...)
    local count, first, second = select("#", ...), ...
    local name, callback, flags, description
    if count < 1 or count > 2 then
      error(error_table(T.register_arguments))
    elseif count == 1 then
      name, callback, flags, description = named(first)
      if name == nil then
        error(error_table(callback))
      end
    else
      if type(first) ~= "string" and type(first) ~= "number" then
        error(error_table(T.register_first_not_string))
      end
      if type(second) ~= "function" then
        error(error_table(T.register_second_not_function))
      end
      name, callback, flags = tostring(first), second, 0
    end
    local problem = register(name, callback, flags, description)
    if problem then
      error(error_table(problem))
    end
  end

  setmetatable(load_redis, { __index = missing_global })
  local LOAD_API = readonly(setmetatable({ redis = readonly(load_redis) }, { __index = missing_global }))

  -- Run a library's code with only the load API in sight; (true) or (false, error object).
  function exports.load_library(code)
    if byte(code, 1) == 27 then
      code = " " .. code
    end
    local chunk, problem = real_loadstring(code, "@user_function")
    if chunk == nil then
      return false, problem, true
    end
    chunk = real_loadstring(untail(dump(chunk)))
    setfenv(chunk, FE)
    FE_meta.__index = LOAD_API
    start()
    local ok, failure = pcall(chunk)
    FE_meta.__index = G
    sethook()
    return ok, failure, false
  end
end

setmetatable(G, { __index = missing_global, __newindex = refuse_write })

-- Nothing of lupa's is left where a script could reach it.
python = nil
package.loaded.python = nil

return exports
