-- Valkey's `cjson` library (lua-cjson 2.1) in Lua 5.4, with its results and, for the common cases,
-- its error messages. Errors are raised at level 0 like the C original. Loaded on first use.
local null = ...
local error, type, tostring, tonumber, select, pairs, next = error, type, tostring, tonumber, select, pairs, next
local floor, huge, mtype = math.floor, math.huge, math.type
local sbyte, schar, sfmt, ssub, spack, sunpack, srep = string.byte, string.char, string.format, string.sub, string.pack, string.unpack, string.rep
local concat = table.concat

-- ===== cjson =====
local cjson = { null = null }
local cfg = { encode_max_depth = 1000, decode_max_depth = 1000, encode_invalid_numbers = false,
              decode_invalid_numbers = true, sparse_convert = false, sparse_ratio = 2, sparse_safe = 10,
              precision = 14, keep_buffer = true }

local escapes = {}
for i = 0, 31 do escapes[schar(i)] = sfmt('\\u%04x', i) end
escapes['\b'], escapes['\t'], escapes['\n'], escapes['\f'], escapes['\r'] = '\\b', '\\t', '\\n', '\\f', '\\r'
escapes['"'], escapes['\\'], escapes['/'] = '\\"', '\\\\', '\\/'
escapes['\127'] = '\\u007f'

local function encode_string(s) return '"' .. s:gsub('[%c"\\/\127]', escapes) .. '"' end

local function encode_number(n)
    if n ~= n or n == huge or n == -huge then
        if not cfg.encode_invalid_numbers then
            error('Cannot serialise number: must not be NaN or Inf', 0)
        end
        if n ~= n then return 'nan' end
        return n > 0 and 'inf' or '-inf'
    end
    if mtype(n) == 'integer' then return tostring(n) end
    if n == floor(n) and n > -1e15 and n < 1e15 then return sfmt('%d', n) end
    return sfmt('%.' .. cfg.precision .. 'g', n)
end

local encode_value

local function array_length(t)
    local max, items = 0, 0
    for k in next, t do
        if mtype(k) == 'float' and k == floor(k) then k = floor(k) end
        if mtype(k) == 'integer' and k >= 1 then
            if k > max then max = k end
            items = items + 1
        else
            return -1
        end
    end
    if cfg.sparse_ratio > 0 and max > items * cfg.sparse_ratio and max > cfg.sparse_safe then
        if not cfg.sparse_convert then error('Cannot serialise table: excessively sparse array', 0) end
        return -1
    end
    return max
end

local function encode_table(t, depth, out)
    depth = depth + 1
    if depth > cfg.encode_max_depth then error('Cannot serialise, excessive nesting (' .. depth .. ')', 0) end
    local n = array_length(t)
    if n > 0 then
        out[#out + 1] = '['
        for i = 1, n do
            if i > 1 then out[#out + 1] = ',' end
            encode_value(t[i], depth, out)
        end
        out[#out + 1] = ']'
        return
    end
    out[#out + 1] = '{'
    local first = true
    for k, v in next, t do
        local kt = type(k)
        if not first then out[#out + 1] = ',' end
        first = false
        if kt == 'string' then out[#out + 1] = encode_string(k)
        elseif kt == 'number' then out[#out + 1] = '"' .. encode_number(k) .. '"'
        else error('Cannot serialise table: table key must be a number or string', 0) end
        out[#out + 1] = ':'
        encode_value(v, depth, out)
    end
    out[#out + 1] = '}'
end

encode_value = function(v, depth, out)
    local t = type(v)
    if t == 'string' then out[#out + 1] = encode_string(v)
    elseif t == 'number' then out[#out + 1] = encode_number(v)
    elseif t == 'boolean' then out[#out + 1] = v and 'true' or 'false'
    elseif t == 'nil' or v == null then out[#out + 1] = 'null'
    elseif t == 'table' then encode_table(v, depth, out)
    else error('Cannot serialise ' .. t .. ': type not supported', 0) end
end

cjson.encode = function(...)
    if select('#', ...) ~= 1 then error('bad argument #1 to \'encode\' (expected 1 argument)', 0) end
    local out = {}
    encode_value((...), 0, out)
    return concat(out)
end

-- Decoder: a position-tracking recursive descent parser.
local function decode_error(s, pos, expected, found)
    error('Expected ' .. expected .. ' but found ' .. found .. ' at character ' .. pos, 0)
end

local function skip_ws(s, pos)
    return s:find('[^ \t\n\r]', pos) or #s + 1
end

local function token_name(s, pos)
    local c = ssub(s, pos, pos)
    if c == '' then return 'T_END' end
    if c == '{' then return 'T_OBJ_BEGIN' elseif c == '}' then return 'T_OBJ_END'
    elseif c == '[' then return 'T_ARR_BEGIN' elseif c == ']' then return 'T_ARR_END'
    elseif c == ':' then return 'T_COLON' elseif c == ',' then return 'T_COMMA'
    elseif c == '"' then return 'T_STRING' end
    return 'invalid token'
end

local function utf8_char(cp)
    if cp < 0x80 then return schar(cp)
    elseif cp < 0x800 then return schar(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f))
    elseif cp < 0x10000 then return schar(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
    end
    return schar(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
end

local unescape = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function decode_string(s, pos)
    local parts, i = {}, pos + 1
    while true do
        local j = s:find('["\\]', i)
        if not j then decode_error(s, pos, 'value', 'invalid token') end
        parts[#parts + 1] = ssub(s, i, j - 1)
        if ssub(s, j, j) == '"' then return concat(parts), j + 1 end
        local e = ssub(s, j + 1, j + 1)
        if e == 'u' then
            local hex = ssub(s, j + 2, j + 5)
            local cp = #hex == 4 and tonumber(hex, 16)
            if not cp then decode_error(s, pos, 'value', 'invalid token') end
            i = j + 6
            if cp >= 0xd800 and cp <= 0xdbff and ssub(s, i, i + 1) == '\\u' then
                local lo = tonumber(ssub(s, i + 2, i + 5), 16)
                if lo and lo >= 0xdc00 and lo <= 0xdfff then
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00)
                    i = i + 6
                end
            end
            parts[#parts + 1] = utf8_char(cp)
        elseif unescape[e] then
            parts[#parts + 1] = unescape[e]
            i = j + 2
        else
            decode_error(s, pos, 'value', 'invalid token')
        end
    end
end

local decode_value

local function decode_number(s, pos)
    local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
    if not num or num == '' or num == '-' then
        local word = s:match('^[%a]+', pos)
        if cfg.decode_invalid_numbers and word then
            local lw = word:lower()
            if lw == 'nan' then return 0 / 0, pos + 3 end
            if lw == 'inf' or lw == 'infinity' then return huge, pos + #word end
        end
        decode_error(s, pos, 'value', 'invalid token')
    end
    local v
    -- Integral values become integers so they print as Lua 5.1 printed them ("0", not "0.0").
    v = tonumber(num)
    if v ~= nil and v == floor(v) and v > -2^53 and v < 2^53 then v = math.tointeger(v) or v end
    if v == nil then decode_error(s, pos, 'value', 'invalid token') end
    return v, pos + #num
end

decode_value = function(s, pos, depth)
    pos = skip_ws(s, pos)
    local c = ssub(s, pos, pos)
    if c == '{' then
        depth = depth + 1
        if depth > cfg.decode_max_depth then
            error('Found too many nested data structures (' .. depth .. ') at character ' .. pos, 0)
        end
        local t = {}
        pos = skip_ws(s, pos + 1)
        if ssub(s, pos, pos) == '}' then return t, pos + 1 end
        while true do
            pos = skip_ws(s, pos)
            if ssub(s, pos, pos) ~= '"' then decode_error(s, pos, 'object key string', token_name(s, pos)) end
            local k
            k, pos = decode_string(s, pos)
            pos = skip_ws(s, pos)
            if ssub(s, pos, pos) ~= ':' then decode_error(s, pos, 'colon', token_name(s, pos)) end
            local v
            v, pos = decode_value(s, pos + 1, depth)
            t[k] = v
            pos = skip_ws(s, pos)
            local d = ssub(s, pos, pos)
            if d == '}' then return t, pos + 1 end
            if d ~= ',' then decode_error(s, pos, 'comma or object end', token_name(s, pos)) end
            pos = pos + 1
        end
    elseif c == '[' then
        depth = depth + 1
        if depth > cfg.decode_max_depth then
            error('Found too many nested data structures (' .. depth .. ') at character ' .. pos, 0)
        end
        local t, n = {}, 0
        pos = skip_ws(s, pos + 1)
        if ssub(s, pos, pos) == ']' then return t, pos + 1 end
        while true do
            local v
            v, pos = decode_value(s, pos, depth)
            n = n + 1
            t[n] = v
            pos = skip_ws(s, pos)
            local d = ssub(s, pos, pos)
            if d == ']' then return t, pos + 1 end
            if d ~= ',' then decode_error(s, pos, 'comma or array end', token_name(s, pos)) end
            pos = pos + 1
        end
    elseif c == '"' then
        return decode_string(s, pos)
    elseif ssub(s, pos, pos + 3) == 'true' then return true, pos + 4
    elseif ssub(s, pos, pos + 4) == 'false' then return false, pos + 5
    elseif ssub(s, pos, pos + 3) == 'null' then return null, pos + 4
    elseif c == '-' or c:match('%d') or (cfg.decode_invalid_numbers and c:match('[iInN]')) then
        return decode_number(s, pos)
    end
    decode_error(s, pos, 'value', token_name(s, pos))
end

cjson.decode = function(...)
    if select('#', ...) ~= 1 then error('bad argument #1 to \'decode\' (expected 1 argument)', 0) end
    local s = ...
    if type(s) ~= 'string' and type(s) ~= 'number' then
        error("bad argument #1 to 'decode' (string expected, got " .. type(s) .. ")", 0)
    end
    s = tostring(s)
    local v, pos = decode_value(s, 1, 0)
    pos = skip_ws(s, pos)
    if pos <= #s then decode_error(s, pos, 'the end', token_name(s, pos)) end
    return v
end

local function setting(name, check)
    return function(v)
        if v ~= nil then cfg[name] = check and check(v) or v end
        return cfg[name]
    end
end
local function onoff(v) if v == 'on' then return true elseif v == 'off' then return false end return v and true or false end
cjson.encode_max_depth = setting('encode_max_depth', tonumber)
cjson.decode_max_depth = setting('decode_max_depth', tonumber)
cjson.encode_invalid_numbers = setting('encode_invalid_numbers', onoff)
cjson.decode_invalid_numbers = setting('decode_invalid_numbers', onoff)
cjson.encode_keep_buffer = setting('keep_buffer', onoff)
cjson.encode_number_precision = setting('precision', tonumber)
cjson.encode_sparse_array = function(convert, ratio, safe)
    if convert ~= nil then cfg.sparse_convert = onoff(convert) end
    if ratio ~= nil then cfg.sparse_ratio = tonumber(ratio) end
    if safe ~= nil then cfg.sparse_safe = tonumber(safe) end
    return cfg.sparse_convert, cfg.sparse_ratio, cfg.sparse_safe
end
cjson.new = function() return cjson end
cjson._NAME, cjson._VERSION = 'cjson', '2.1.0'

return cjson
