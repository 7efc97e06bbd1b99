-- Builds the environment scripts run in (Valkey's script_lua.c sandbox, on Lua 5.4).
-- Runs once per Lua state with every standard library open; receives the managed callbacks and
-- the engine mode ("eval" or "function"). Returns the pieces the engine keeps in the registry.
--
-- Valkey's Lua 5.1 has read-only tables built into the VM. Lua 5.4 has none, so every protected
-- table here is an empty proxy whose metatable reads through to the real table and refuses
-- writes; setmetatable, getmetatable, rawset, rawget and next know about proxies.
local native, mode = ...

local real_setmetatable, real_getmetatable = setmetatable, getmetatable
local real_rawset, real_rawget, real_next = rawset, rawget, next
local error, type, tostring, select, pairs = error, type, tostring, select, pairs
local dbg = debug
local string, math, table, os, coroutine = string, math, table, os, coroutine

local backing_of = real_setmetatable({}, { __mode = 'k' })   -- proxy -> real table
local proxy_of_mt = real_setmetatable({}, { __mode = 'k' })  -- metatable -> read-only view

local READONLY = 'Attempt to modify a readonly table'

local function refuse_write() error(READONLY, 2) end

-- An __index that refuses names missing from t, as Valkey's protected globals do.
local function strict_index(t)
    return function(_, k)
        local v = t[k]
        if v == nil then
            error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 0)
        end
        return v
    end
end

local function protect(t)
    local proxy = {}
    backing_of[proxy] = t
    real_setmetatable(proxy, {
        __index = t,
        __newindex = refuse_write,
        __pairs = function() return real_next, t, nil end,
        __len = function() return #t end,
    })
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

local function unpack_compat(t, i, j) return table.unpack(t, i, j) end

-- ----- libraries -----

local function copy(t)
    local c = {}
    for k, v in real_next, t do c[k] = v end
    return c
end

-- Lua 5.1 prints every number with "%.14g"; 5.4 prints floats with integral values as "5.0".
-- tostring and table.concat print as 5.1 did (the .. operator cannot be changed).
local sformat, mtype = string.format, math.type
local function number_text(v)
    if mtype(v) == 'float' then return sformat('%.14g', v) end
    return v
end
local real_tostring = tostring
local function tostring51(v)
    if mtype(v) == 'float' then return sformat('%.14g', v) end
    return real_tostring(v)
end

-- 5.4 names the culprit after the value ("attempt to call a nil value (field 'x')"); 5.1 before it.
local function message51(msg)
    if type(msg) ~= 'string' then return msg end
    return (msg:gsub("attempt to ([%a ]-) a (%a+) value %((%a+) '([^']*)'%)", "attempt to %1 %3 '%4' (a %2 value)"))
end

local math_lib = copy(math)
-- Lua 5.1 names that 5.4 dropped.
math_lib.pow = function(x, y) return x ^ y end
math_lib.ldexp = function(m, e) return m * 2.0 ^ e end
math_lib.frexp = function(x)
    if x == 0 or x ~= x or x == math.huge or x == -math.huge then return x, 0 end
    local e = math.floor(math.log(math.abs(x), 2)) + 1
    local m = x / 2.0 ^ e
    if math.abs(m) >= 1 then m = m / 2; e = e + 1 elseif math.abs(m) < 0.5 then m = m * 2; e = e - 1 end
    return m, e
end
math_lib.log10 = function(x) return math.log(x, 10) end
math_lib.mod = math.fmod
math_lib.atan2 = function(y, x) return math.atan(y, x) end
math_lib.cosh = function(x) return (math.exp(x) + math.exp(-x)) / 2 end
math_lib.sinh = function(x) return (math.exp(x) - math.exp(-x)) / 2 end
math_lib.tanh = function(x) local a, b = math.exp(x), math.exp(-x) return (a - b) / (a + b) end
math_lib.mininteger, math_lib.maxinteger, math_lib.tointeger, math_lib.ult, math_lib.type = nil, nil, nil, nil, nil
-- Valkey's deterministic generator (rand48, shared by every script since start).
local rand48 = native.rand48
local function checkint(v, n, fname)
    local x = tonumber(v)
    if x == nil then
        error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. (v == nil and 'no value' or type(v)) .. ")", 0)
    end
    x = x >= 0 and math.floor(x) or math.ceil(x)
    return x
end
math_lib.random = function(...)
    local r = rand48() / 2147483647.0
    local n = select('#', ...)
    if n == 0 then return r end
    if n == 1 then
        local u = checkint((...), 1, 'random')
        if u < 1 then error("bad argument #1 to 'random' (interval is empty)", 0) end
        return math.floor(r * u) + 1
    elseif n == 2 then
        local l, u = checkint((...), 1, 'random'), checkint(select(2, ...), 2, 'random')
        if l > u then error("bad argument #2 to 'random' (interval is empty)", 0) end
        return math.floor(r * (u - l + 1)) + l
    end
    error('wrong number of arguments', 0)
end
math_lib.randomseed = function(seed)
    native.srand48(checkint(seed, 1, 'randomseed'))
end

local table_lib = copy(table)
local real_concat = table.concat
table_lib.concat = function(t, sep, i, j)
    i = i or 1
    j = j or #t
    local floats = false
    for k = i, j do
        if mtype(t[k]) == 'float' then floats = true break end
    end
    if not floats then return real_concat(t, sep, i, j) end
    local parts = {}
    for k = i, j do parts[#parts + 1] = number_text(t[k]) end
    return real_concat(parts, sep)
end
table_lib.getn = function(t) return #t end
table_lib.setn = function() error("'setn' is obsolete", 2) end
table_lib.maxn = function(t)
    local m = 0
    for k in real_next, t do if type(k) == 'number' and k > m then m = k end end
    return m
end
table_lib.foreach = function(t, f)
    for k, v in pairs(t) do local r = f(k, v) if r ~= nil then return r end end
end
table_lib.foreachi = function(t, f)
    for i = 1, #t do local r = f(i, t[i]) if r ~= nil then return r end end
end
table_lib.move, table_lib.pack = nil, nil

local string_lib = copy(string)
string_lib.gfind = string.gmatch
string_lib.pack, string_lib.unpack, string_lib.packsize = nil, nil, nil

local os_lib = { clock = os.clock }

-- bit, cjson, cmsgpack and struct are compiled on first use (native.open_library): a state that
-- never uses them stays small (Valkey's test bounds used_memory_lua after plain scripts).
local function lazy_library(name)
    local store = {}
    local proxy = {}
    backing_of[proxy] = store
    local mt
    local function open()
        local lib = native.open_library(name)
        for k, v in real_next, lib do store[k] = v end
        mt.__index = store
        mt.__pairs = function() return real_next, store, nil end
        mt.__len = function() return #store end
        return store
    end
    mt = {
        __index = function(_, k) return open()[k] end,
        __newindex = refuse_write,
        __pairs = function() return real_next, open(), nil end,
        __len = function() return #open() end,
    }
    real_setmetatable(proxy, mt)
    return proxy, function() return store end
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
api.call = as_c_function(ncall)
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
        if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring51(v) end
    end
    native.log(math.floor(level), table.concat(parts, ' '))
end)
api.log = log
api.LOG_DEBUG, api.LOG_VERBOSE, api.LOG_NOTICE, api.LOG_WARNING = 0, 1, 2, 3
api.setresp = as_c_function(function(...)
    if select('#', ...) ~= 1 then return failure('server.setresp() requires one argument.') end
    local v = tonumber((...))
    if v ~= 2 and v ~= 3 then return failure('RESP version must be 2 or 3.') end
    native.setresp(math.floor(v))
end)
api.set_repl = as_c_function(function(...)
    if select('#', ...) ~= 1 then return failure('server.set_repl() requires one argument.') end
    local v = tonumber((...)) or 0
    v = math.floor(v)
    if v & ~3 ~= 0 then return failure('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.') end
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

local function error_handler(err)
    repair_call()
    local level, info = 2, nil
    repeat
        info = dbg.getinfo(level, 'nSl')
        level = level + 1
    until not info or (info.what ~= 'C' and info.source ~= '=kvasir' and info.source ~= '=?')
    if type(err) ~= 'table' then
        err = { err = 'ERR ' .. message51(tostring51(err)) }
    end
    if info then
        err['source'] = info.source
        err['line'] = info.currentline
    end
    return err
end

-- ----- the global table -----

local base = {}
local globals = {}
backing_of[globals] = base
local globals_mt
globals_mt = {
    __index = strict_index(base),
    __newindex = refuse_write,
    __pairs = function() return real_next, base, nil end,
}
real_setmetatable(globals, globals_mt)

local function load_text(chunk, name)
    if type(chunk) == 'string' then
        return load(chunk, name or chunk, 't', globals)
    end
    return load(chunk, name or '=(load)', 't', globals)
end

base.string = protect(string_lib)
base.math = protect(math_lib)
base.table = protect(table_lib)
base.os = protect(os_lib)
base.bit = lazy_library('bit')
base.cjson = lazy_library('cjson')
base.cmsgpack = lazy_library('cmsgpack')
base.struct = lazy_library('struct')
base.coroutine = protect(copy(coroutine))
base.xpcall = function(f, handler, ...)
    return (function(...) repair_call() return ... end)(xpcall(f, function(e) repair_call() return handler(e) end, ...))
end
base.tostring = tostring51
base.setmetatable = function(t, m)
    if backing_of[t] then error(READONLY, 2) end
    return real_setmetatable(t, m)
end
base.getmetatable = function(o)
    local m = real_getmetatable(o)
    if m == nil then return nil end
    if backing_of[o] or type(o) == 'string' or proxy_of_mt[m] then return mt_view(m) end
    return m
end
base.next = function(t, k)
    local b = backing_of[t]
    if b then return real_next(b, k) end
    return real_next(t, k)
end
base.assert = assert
base.tonumber = tonumber
base.rawequal = rawequal
base.collectgarbage = collectgarbage
base.rawset = function(t, k, v)
    if backing_of[t] then error(READONLY, 2) end
    return real_rawset(t, k, v)
end
base.rawget = function(t, k)
    local b = backing_of[t]
    if b then return real_rawget(b, k) end
    return real_rawget(t, k)
end
-- Valkey's pcall: an error table (from server.call) is returned as its message string, as before Redis 7.
local real_pcall = pcall
local function pcall_result(ok, ...)
    repair_call()
    if ok then return ok, ... end
    local e = ...
    if type(e) == 'table' then
        local m = real_rawget(e, 'err')
        if type(m) == 'string' or type(m) == 'number' then return false, m end
    end
    return false, message51(e)
end
base.pcall = function(...) return pcall_result(real_pcall(...)) end
base.type = type
base.select = select
base.unpack = unpack_compat
base.gcinfo = function() return math.floor(collectgarbage('count')) end
base.pairs = pairs
base.ipairs = ipairs
base.loadstring = load_text
base.load = load_text
base.error = error
base._VERSION = _VERSION
base._G = globals

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
    real_setmetatable(view, { __index = strict_index(lib), __newindex = refuse_write })
    load_api = { server = view, redis = view }
end

local api_view = protect(api)
base.server = api_view
base.redis = api_view

-- Runs a compiled chunk or function under the error handler; the engine resumes this in a
-- coroutine so the count hook can stop a killed script by yielding.
local xpcall = xpcall
local function runner(f, ...)
    return xpcall(f, error_handler, ...)
end

-- FUNCTION LOAD: while the library body runs, globals show only the load API; the library's
-- own globals are refused as usual.
local script_index = globals_mt.__index
local load_index = strict_index(load_api or {})
local function library_mode(on)
    globals_mt.__index = on and load_index or script_index
end

-- Strings index the read-only string library, so scripts cannot reach the real one through them.
real_getmetatable('').__index = base.string

return globals, runner, base, library_mode
