-- Builds the environment scripts run in (Valkey's script_lua.c sandbox) on Lua 5.1.
-- Runs once per Lua state with base, table, string, math, os and debug open; receives the
-- managed callbacks and the engine mode ("eval" or "function"). Returns the pieces the engine
-- keeps in the registry.
--
-- Valkey's Lua has read-only tables built into the VM; the system's Lua 5.1 has none, so every
-- protected table here is an empty proxy whose metatable reads through to the real table and
-- refuses writes; setmetatable, getmetatable, rawset, rawget, next, pairs and ipairs know about
-- proxies.
local native, mode = ...

local real_setmetatable, real_getmetatable = setmetatable, getmetatable
local real_rawset, real_rawget, real_next = rawset, rawget, next
local error, type, tostring, tonumber, select, pairs, ipairs = error, type, tostring, tonumber, select, pairs, ipairs
local real_loadstring, real_load, real_setfenv, real_getfenv = loadstring, load, setfenv, getfenv
local real_pcall, real_xpcall, unpack = pcall, xpcall, unpack
local assert, rawequal, collectgarbage, gcinfo, newproxy = assert, rawequal, collectgarbage, gcinfo, newproxy
local dbg = debug
local string, math, table, os, coroutine = string, math, table, os, coroutine
local floor = math.floor
local version = _VERSION

-- From here on, functions made by this chunk see the scripts' globals, never the full table
-- the libraries were opened in (getfenv of one of them must not reach debug or io).
local base = {}
local globals = {}
real_setfenv(1, globals)

local backing_of = real_setmetatable({}, { __mode = 'k' })   -- proxy -> real table
local proxy_of_mt = real_setmetatable({}, { __mode = 'k' })  -- metatable -> read-only view
local ours = real_setmetatable({}, { __mode = 'k' })         -- Lua functions of the sandbox

local READONLY = 'Attempt to modify a readonly table'

local function refuse_write() error(READONLY, 2) end

-- An __index that refuses names missing from t, as Valkey's protected globals do.
local function strict_index(what)
    return function(_, k)
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
end

local function protect(t)
    local proxy = {}
    backing_of[proxy] = t
    real_setmetatable(proxy, { __index = t, __newindex = refuse_write })
    return proxy
end

local function mt_view(m)
    local v = proxy_of_mt[m]
    if not v then
        v = protect(m)
        proxy_of_mt[m] = v
    end
    return v
end

local function copy(t)
    local c = {}
    for k, v in real_next, t do c[k] = v end
    return c
end

-- ----- libraries -----

local co_wrap, co_yield = coroutine.wrap, coroutine.yield
local repairs, any_broken = {}, false
local function as_c_function(checked)
    local loop, wrap
    local broken = false
    loop = function(...)
        local r, failed = checked(...)
        if failed then
            broken, any_broken = true, true
            error(r, 0)
        end
        return loop(co_yield(r))
    end
    wrap = co_wrap(loop)
    repairs[#repairs + 1] = function()
        if broken then
            broken = false
            native.rearm(wrap, loop)
        end
    end
    return wrap
end
local function repair_call()
    if any_broken then
        any_broken = false
        for i = 1, #repairs do repairs[i]() end
    end
end
-- The same for a function that raises as usual (libraries Valkey has in C): a string error gets
-- the caller's line in front from coroutine.wrap, as luaL_error gives it there.
local function as_c_library_function(f)
    local loop, wrap, finish
    local broken = false
    finish = function(ok, ...)
        if not ok then
            broken, any_broken = true, true
            error((...), 0)
        end
        return loop(co_yield(...))
    end
    loop = function(...) return finish(real_pcall(f, ...)) end
    wrap = co_wrap(loop)
    repairs[#repairs + 1] = function()
        if broken then
            broken = false
            native.rearm(wrap, loop)
        end
    end
    return wrap
end
-- A managed library function answers nil and a message on bad input.
local function nil_means_error(f)
    local function check(r, ...)
        if r == nil then error((...), 0) end
        return r, ...
    end
    return function(...) return check(f(...)) end
end


local math_lib = copy(math)
-- Valkey's deterministic generator (rand48, shared by every script since start).
local rand48 = native.rand48
local function checkint(v, n, fname)
    local x = tonumber(v)
    if x == nil then
        error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. (v == nil and 'no value' or type(v)) .. ")", 0)
    end
    x = x >= 0 and floor(x) or math.ceil(x)
    return x
end
math_lib.random = function(...)
    local r = rand48() / 2147483647.0
    local n = select('#', ...)
    if n == 0 then return r end
    if n == 1 then
        local u = checkint((...), 1, 'random')
        if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 0) end
        return floor(r * u) + 1
    elseif n == 2 then
        local l, u = checkint((...), 1, 'random'), checkint(select(2, ...), 2, 'random')
        if l > u then error("bad argument #2 to 'random' (interval is empty)", 0) end
        return floor(r * (u - l + 1)) + l
    end
    error('wrong number of arguments', 0)
end
math_lib.random = as_c_library_function(math_lib.random)
math_lib.randomseed = as_c_library_function(function(seed)
    native.srand48(checkint(seed, 1, 'randomseed'))
end)

local os_lib = { clock = os.clock }

local function c_library(t, wrap)
    local lib = {}
    for k, v in real_next, t do
        if type(v) == 'function' then v = as_c_library_function(wrap and wrap(v) or v) end
        lib[k] = v
    end
    return lib
end

-- cmsgpack is Lua code compiled on first use (native.open_library): a state that never uses
-- it stays small (Valkey's test bounds used_memory_lua after plain scripts).
local function lazy_library(name)
    local store = {}
    local proxy = {}
    backing_of[proxy] = store
    local mt
    local function open()
        local lib = c_library(native.open_library(name))
        for k, v in real_next, lib do store[k] = v end
        mt.__index = store
        return store
    end
    mt = {
        __index = function(_, k) return open()[k] end,
        __newindex = refuse_write,
    }
    real_setmetatable(proxy, mt)
    return proxy, open
end

-- cjson: the lua-cjson C module, with one guard: its 2.1.0 buffer arithmetic is 32-bit, so a
-- value whose strings add up to more than it can hold is refused before it reaches the encoder.
local cjson_lib
do
    local c = native.cjson
    do
        cjson_lib = copy(c)
        local encode = c.encode
        local LIMIT = 256 * 1024 * 1024
        local function size_of(v, depth, total)
            local t = type(v)
            if t == 'string' then return total + #v end
            if t == 'table' and depth < 1000 then
                for k, x in real_next, v do
                    if type(k) == 'string' then total = total + #k end
                    total = size_of(x, depth + 1, total)
                    if total > LIMIT then return total end
                end
            end
            return total
        end
        cjson_lib.encode = as_c_library_function(function(v, ...)
            if type(v) == 'table' or (type(v) == 'string' and #v > LIMIT) then
                if size_of(v, 0, 0) > LIMIT then error('Cannot serialise: value too large', 0) end
            end
            -- Called through pcall, the encoder's own errors carry no position of ours.
            local ok, r = real_pcall(encode, v)
            if not ok then error(r, 0) end
            return r
        end)
    end
end

-- ----- the server API (redis / server) -----

local ncall = native.call
local api = {}
-- The API functions that raise (server.call, sha1hex, log, setresp...) must keep the script's
-- frame for the "on @user_script:LINE" of their errors, but `return server.call(...)` is a tail
-- call, which replaces the script's frame by a Lua function's. A C function keeps its caller's
-- frame, and the only stock one that calls back into Lua and re-raises is coroutine.wrap's. An
-- error leaves its coroutine dead, so once the error is caught (error handler, pcall, xpcall)
-- the same coroutine gets its function back (native.rearm): server.call stays the same value.
-- `checked` returns a value, or an error table and true.
-- On x86-64 the engine gives server.call as a real C function that raises (any number of
-- arguments); elsewhere the coroutine.wrap stand-in (up to 7999 arguments).
api.call = native.raising_call or as_c_function(ncall)
api.pcall = function(...)
    return (ncall(...))
end
local function failure(msg) return { err = 'ERR ' .. msg }, true end
-- An error table as Valkey's luaPushErrorBuff builds it: "-CODE msg" keeps its code, anything
-- else gets ERR; no line breaks at the end.
local function error_table(s)
    local code, msg
    if s:sub(1, 1) == '-' then
        local sp = s:find(' ', 1, true)
        if sp then code, msg = s:sub(2, sp - 1), s:sub(sp + 1) else code, msg = 'ERR', s:sub(2) end
    else
        code, msg = 'ERR', s
    end
    msg = msg:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
    return { err = code .. ' ' .. msg }
end
api.sha1hex = as_c_function(function(...)
    if select('#', ...) ~= 1 then return failure('wrong number of arguments') end
    return native.sha1hex((...))
end)
api.error_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then return { err = 'ERR wrong number or type of arguments' } end
    if s:sub(1, 1) ~= '-' then s = '-' .. s end
    return error_table(s)
end
api.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then return { err = 'ERR wrong number or type of arguments' } end
    return { ok = s }
end
local log = as_c_function(function(...)
    local n = select('#', ...)
    if n < 2 then return failure('server.log() requires two arguments or more.') end
    local level = ...
    if type(level) ~= 'number' and not (type(level) == 'string' and tonumber(level)) then
        return failure('First argument must be a number (log level).')
    end
    level = tonumber(level)
    if level < 0 or level > 3 then return failure('Invalid log level.') end
    local parts = {}
    for i = 2, n do
        local v = select(i, ...)
        if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
    end
    native.log(floor(level), table.concat(parts, ' '))
end)
api.log = log
api.LOG_DEBUG, api.LOG_VERBOSE, api.LOG_NOTICE, api.LOG_WARNING = 0, 1, 2, 3
api.setresp = as_c_function(function(...)
    if select('#', ...) ~= 1 then return failure('server.setresp() requires one argument.') end
    local v = tonumber((...))
    if v ~= 2 and v ~= 3 then return failure('RESP version must be 2 or 3.') end
    native.setresp(floor(v))
end)
api.set_repl = as_c_function(function(...)
    if select('#', ...) ~= 1 then return failure('server.set_repl() requires one argument.') end
    local v = floor(tonumber((...)) or 0)
    if v < 0 or v > 3 then return failure('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.') end
    native.set_repl(v)
end)
api.REPL_NONE, api.REPL_AOF, api.REPL_SLAVE, api.REPL_REPLICA, api.REPL_ALL = 0, 1, 2, 2, 3
api.acl_check_cmd = as_c_function(native.acl_check_cmd)
api.REDIS_VERSION, api.REDIS_VERSION_NUM = native.redis_version, native.redis_version_num
api.VALKEY_VERSION, api.VALKEY_VERSION_NUM = native.valkey_version, native.valkey_version_num
api.SERVER_NAME = 'valkey'
if mode == 'eval' then
    -- Without a debugger these do what Valkey's do when no debugging session is active.
    api.breakpoint = function() return false end
    api.debug = function() end
    api.replicate_commands = function() return true end
end

-- ----- error handler: where in the user's code did it fail -----

local getinfo = dbg.getinfo
local killed = native.killed
local function error_handler(err)
    repair_call()
    local stop = killed()
    if stop then err = { err = stop } end
    local level, info = 2, nil
    repeat
        info = getinfo(level, 'nSl')
        level = level + 1
    until not info or (info.what ~= 'C' and info.source ~= '=kvasir' and info.source ~= '=?')
    if type(err) ~= 'table' then
        err = { err = 'ERR ' .. tostring(err) }
    end
    if info then
        err['source'] = info.source
        err['line'] = info.currentline
    end
    return err
end

-- ----- the global table -----

local globals_mt = { __index = base, __newindex = refuse_write }
backing_of[globals] = base
real_setmetatable(globals, globals_mt)
real_setmetatable(base, { __index = strict_index() })

-- Valkey's Lua never loads bytecode (its parser reads every chunk as text); a binary chunk
-- read as text fails to compile at its first byte, as there.
local function as_text(s)
    if type(s) == 'string' and s:byte(1) == 27 then return ' ' .. s end
    return s
end

base.string = protect(copy(string))
base.math = protect(math_lib)
base.table = protect(copy(table))
base.os = protect(os_lib)
-- bit and struct are the engine's C functions; where they cannot raise errors themselves, each
-- gets a coroutine.wrap stand-in that does.
if native.raising_libraries then
    base.bit = protect(copy(native.bit))
    base.struct = protect(copy(native.struct))
else
    base.bit = protect(c_library(native.bit, nil_means_error))
    base.struct = protect(c_library(native.struct, nil_means_error))
end
base.cjson = protect(cjson_lib)
base.cmsgpack = lazy_library('cmsgpack')
base.coroutine = protect(copy(coroutine))
base.xpcall = function(f, handler, ...)
    return (function(...) repair_call() return ... end)(real_xpcall(f, function(e) repair_call() return handler(e) end, ...))
end
base.tostring = tostring
-- Lua wrappers of base functions raise their argument errors at the caller's line (level 2),
-- as the C originals do.
local function arg_error(n, fname, msg) error("bad argument #" .. n .. " to '" .. fname .. "' (" .. msg .. ")", 3) end
local function expect_table(v, n, fname, count)
    if type(v) ~= 'table' then
        error("bad argument #" .. n .. " to '" .. fname .. "' (table expected, got " .. (count < n and 'no value' or type(v)) .. ")", 3)
    end
end
base.setmetatable = function(...)
    local t, m = ...
    expect_table(t, 1, 'setmetatable', select('#', ...))
    if m ~= nil and type(m) ~= 'table' then arg_error(2, 'setmetatable', 'nil or table expected') end
    if backing_of[t] then error(READONLY, 0) end
    return real_setmetatable(t, m)
end
base.getmetatable = function(...)
    if select('#', ...) == 0 then arg_error(1, 'getmetatable', 'value expected') end
    local o = ...
    local m = real_getmetatable(o)
    if m == nil then return nil end
    -- A userdata's metatable (newproxy) is read-only: a __gc set there would run inside the
    -- collector, unprotected, wherever the engine happens to allocate.
    if backing_of[o] or proxy_of_mt[m] or type(o) == 'userdata' then return mt_view(m) end
    return m
end
local function next_of(t, k)
    local b = backing_of[t]
    if b then return real_next(b, k) end
    return real_next(t, k)
end
base.next = real_next
base.pairs = function(...)
    local t = ...
    expect_table(t, 1, 'pairs', select('#', ...))
    if backing_of[t] then return next_of, t, nil end
    return real_next, t, nil
end
base.ipairs = function(...)
    local t = ...
    expect_table(t, 1, 'ipairs', select('#', ...))
    return ipairs(backing_of[t] or t)
end
base.assert = assert
base.tonumber = tonumber
base.rawequal = rawequal
base.collectgarbage = collectgarbage
base.rawset = function(...)
    local t, k, v = ...
    expect_table(t, 1, 'rawset', select('#', ...))
    if backing_of[t] then error(READONLY, 0) end
    return real_rawset(t, k, v)
end
base.rawget = function(...)
    local t, k = ...
    expect_table(t, 1, 'rawget', select('#', ...))
    return real_rawget(backing_of[t] or t, k)
end
-- Valkey's pcall: an error table (from server.call) is returned as its message string, as before Redis 7.
local function pcall_result(ok, ...)
    repair_call()
    if ok then return ok, ... end
    local e = ...
    if type(e) == 'table' then
        local m = real_rawget(e, 'err')
        if type(m) == 'string' or type(m) == 'number' then return false, m end
    end
    return false, e
end
base.pcall = function(...)
    if select('#', ...) == 0 then arg_error(1, 'pcall', 'value expected') end
    return pcall_result(real_pcall(...))
end
base.type = type
base.select = select
base.unpack = unpack
base.gcinfo = gcinfo
base.newproxy = newproxy
base.loadstring = function(...)
    local s, name = ...
    if type(s) ~= 'string' and type(s) ~= 'number' then
        arg_error(1, 'loadstring', 'string expected, got ' .. (select('#', ...) == 0 and 'no value' or type(s)))
    end
    return real_loadstring(as_text(s), name or s)
end
base.load = function(...)
    local f, name = ...
    if type(f) ~= 'function' then
        arg_error(1, 'load', 'function expected, got ' .. (select('#', ...) == 0 and 'no value' or type(f)))
    end
    local first = true
    return real_load(function()
        local piece = f()
        if first then
            first = false
            piece = as_text(piece)
        end
        return piece
    end, name)
end
base.getfenv = real_getfenv
-- The sandbox's own functions keep their environment (as the C functions they stand for do).
base.setfenv = function(f, t)
    if type(f) == 'function' and ours[f] then
        error("'setfenv' cannot change environment of given object", 2)
    end
    -- Levels count from the caller: one for this function, one for pcall.
    local ok, r = real_pcall(real_setfenv, type(f) == 'number' and f > 0 and f + 2 or f, t)
    if not ok then error(r, 2) end
    return r
end
base.error = error
base._VERSION = version
base._G = globals
if mode == 'eval' then
    -- Valkey keeps its error handler in the globals, under both names.
    base.__server__err__handler = error_handler
    base.__redis__err__handler = error_handler
end

-- The library-loading view of FUNCTION LOAD: only the server API with register_function.
local load_api
if mode == 'function' then
    local known_flags = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
                          ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
    local function is_stringish(v) return type(v) == 'string' or type(v) == 'number' end
    local function fail(msg) error({ err = 'ERR ' .. msg }) end
    local function register_function(...)
        local n = select('#', ...)
        if n < 1 or n > 2 then fail('wrong number of arguments to server.register_function') end
        local name, callback, desc, flags
        if n == 1 then
            local args = ...
            if type(args) ~= 'table' then
                fail('calling server.register_function with a single argument is only applicable to Lua table (representing named arguments).')
            end
            for k, v in real_next, args do
                if not is_stringish(k) then fail('named argument key given to server.register_function is not a string') end
                local key = tostring(k):lower()
                if key == 'function_name' then
                    if not is_stringish(v) then fail('function_name argument given to server.register_function must be a string') end
                    name = tostring(v)
                elseif key == 'description' then
                    if not is_stringish(v) then fail('description argument given to server.register_function must be a string') end
                    desc = tostring(v)
                elseif key == 'callback' then
                    if type(v) ~= 'function' then fail('callback argument given to server.register_function must be a function') end
                    callback = v
                elseif key == 'flags' then
                    if type(v) ~= 'table' then fail('flags argument to server.register_function must be a table representing function flags') end
                    flags = {}
                    for _, f in real_next, v do
                        if type(f) ~= 'string' or not known_flags[f] then fail('unknown flag given') end
                        flags[#flags + 1] = f
                    end
                else
                    fail('unknown argument given to server.register_function')
                end
            end
            if not name then fail('server.register_function must get a function name argument') end
            if not callback then fail('server.register_function must get a callback argument') end
        else
            name, callback = ...
            if not is_stringish(name) then fail('first argument to server.register_function must be a string') end
            if type(callback) ~= 'function' then fail('second argument to server.register_function must be a function') end
            name = tostring(name)
        end
        local err = native.register_function(name, callback, desc, flags and table.concat(flags, ' ') or '')
        if err then error({ err = err }) end
    end
    local lib = {
        register_function = register_function,
        log = api.log,
        LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
        REDIS_VERSION = api.REDIS_VERSION, REDIS_VERSION_NUM = api.REDIS_VERSION_NUM,
        VALKEY_VERSION = api.VALKEY_VERSION, VALKEY_VERSION_NUM = api.VALKEY_VERSION_NUM,
        SERVER_NAME = api.SERVER_NAME,
    }
    local view = {}
    backing_of[view] = lib
    real_setmetatable(lib, { __index = strict_index() })
    real_setmetatable(view, { __index = lib, __newindex = refuse_write })
    load_api = { server = view, redis = view }
end

local api_view = protect(api)
base.server = api_view
base.redis = api_view

-- FUNCTION LOAD: while the library body runs, globals show only the load API; the library's
-- own globals are refused as usual.
local load_view = {}
for k, v in real_next, load_api or {} do load_view[k] = v end
real_setmetatable(load_view, { __index = strict_index() })
local function library_mode(on)
    globals_mt.__index = on and load_view or base
end

-- Strings index the read-only string library, so scripts cannot reach the real one through them.
real_getmetatable('').__index = base.string

-- Mark every Lua function reachable from the globals as the sandbox's own.
local function mark(t, seen)
    if seen[t] then return end
    seen[t] = true
    for _, v in real_next, backing_of[t] or t do
        if type(v) == 'function' then ours[v] = true
        elseif type(v) == 'table' then mark(v, seen) end
    end
end
mark(base, {})
mark(load_view, {})
ours[error_handler] = true
-- coroutine.resume catches errors like pcall: the wrapped API functions must be usable afterwards.
local co_lib = backing_of[base.coroutine]
local real_resume = co_lib.resume
co_lib.resume = function(...)
    return (function(...) repair_call() return ... end)(real_resume(...))
end

return globals, error_handler, base, library_mode
