-- The libraries Valkey links into its Lua (lua_bit, lua_cjson, lua_cmsgpack, lua_struct), written
-- in Lua 5.4 with the same names, results and (for the common cases) error messages. Errors are
-- raised at level 0 like the C originals, which report no script position.
local null = ...
local error, type, tostring, tonumber, select, pairs, next = error, type, tostring, tonumber, select, pairs, next
local floor, huge, mtype = math.floor, math.huge, math.type
local sbyte, schar, sfmt, ssub, spack, sunpack, srep = string.byte, string.char, string.format, string.sub, string.pack, string.unpack, string.rep
local concat = table.concat

-- ===== bit (LuaBitOp): 32-bit signed results =====
local bit = {}
local function tobit(x)
    x = tonumber(x)
    if x == nil then error("bad argument #1 to 'tobit' (number expected)", 0) end
    if mtype(x) == 'float' then
        if x ~= x or x == huge or x == -huge then return 0 end
        x = floor(x + 0.5)
    end
    x = x & 0xffffffff
    if x >= 0x80000000 then x = x - 0x100000000 end
    return x
end
local function u32(x) return tobit(x) & 0xffffffff end
bit.tobit = tobit
bit.bnot = function(x) return tobit(~u32(x)) end
bit.band = function(x, ...) local r = u32(x) for i = 1, select('#', ...) do r = r & u32((select(i, ...))) end return tobit(r) end
bit.bor = function(x, ...) local r = u32(x) for i = 1, select('#', ...) do r = r | u32((select(i, ...))) end return tobit(r) end
bit.bxor = function(x, ...) local r = u32(x) for i = 1, select('#', ...) do r = r ~ u32((select(i, ...))) end return tobit(r) end
bit.lshift = function(x, n) return tobit(u32(x) << (u32(n) & 31)) end
bit.rshift = function(x, n) return tobit(u32(x) >> (u32(n) & 31)) end
bit.arshift = function(x, n) return tobit(tobit(x) // (1 << (u32(n) & 31))) end
bit.rol = function(x, n) n = u32(n) & 31 local v = u32(x) return tobit((v << n) | (v >> (32 - n))) end
bit.ror = function(x, n) n = u32(n) & 31 local v = u32(x) return tobit((v >> n) | (v << (32 - n))) end
bit.bswap = function(x)
    local v = u32(x)
    return tobit(((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >> 8) & 0xff00) | (v >> 24))
end
bit.tohex = function(x, n)
    local v = u32(x)
    n = n == nil and 8 or tobit(n)
    local digits = '%0*x'
    if n < 0 then digits = '%0*X'; n = -n end
    if n > 8 or n < 0 then n = 8 end
    if n == 0 then return '' end
    local s = sfmt(n == 8 and (digits == '%0*x' and '%08x' or '%08X') or (digits == '%0*x' and '%x' or '%X'), v)
    if #s < n then s = srep('0', n - #s) .. s end
    return ssub(s, -n)
end

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

-- ===== cmsgpack (lua-cmsgpack 0.4.0) =====
local cmsgpack = { _NAME = 'cmsgpack', _VERSION = 'lua-cmsgpack 0.4.0' }
local MAX_NESTING = 16

local function is_int(n)
    if mtype(n) == 'integer' then return true end
    return n == floor(n) and n >= -9.2233720368547758e18 and n < 9.2233720368547758e18
end

local pack_value
local function pack_int(n, out)
    n = math.tointeger(n) or floor(n)
    if n >= 0 then
        if n <= 127 then out[#out + 1] = schar(n)
        elseif n <= 0xff then out[#out + 1] = schar(0xcc, n)
        elseif n <= 0xffff then out[#out + 1] = spack('>BI2', 0xcd, n)
        elseif n <= 0xffffffff then out[#out + 1] = spack('>BI4', 0xce, n)
        else out[#out + 1] = spack('>Bi8', 0xcf, n) end
    else
        if n >= -32 then out[#out + 1] = schar(n & 0xff)
        elseif n >= -128 then out[#out + 1] = spack('>Bi1', 0xd0, n)
        elseif n >= -32768 then out[#out + 1] = spack('>Bi2', 0xd1, n)
        elseif n >= -2147483648 then out[#out + 1] = spack('>Bi4', 0xd2, n)
        else out[#out + 1] = spack('>Bi8', 0xd3, n) end
    end
end

local function table_is_array(t)
    local count, max = 0, 0
    for k in next, t do
        if type(k) == 'number' and k > 0 and k == floor(k) then
            count = count + 1
            if k > max then max = k end
        else
            return false
        end
    end
    return max == count
end

pack_value = function(v, out, level)
    local t = type(v)
    if t == 'nil' then out[#out + 1] = '\xc0'
    elseif t == 'boolean' then out[#out + 1] = v and '\xc3' or '\xc2'
    elseif t == 'number' then
        if is_int(v) then pack_int(v, out)
        else
            local f = sunpack('<f', spack('<f', v))
            if f == v then out[#out + 1] = spack('>Bf', 0xca, v)
            else out[#out + 1] = spack('>Bd', 0xcb, v) end
        end
    elseif t == 'string' then
        local n = #v
        if n < 32 then out[#out + 1] = schar(0xa0 | n)
        elseif n <= 0xff then out[#out + 1] = schar(0xd9, n)
        elseif n <= 0xffff then out[#out + 1] = spack('>BI2', 0xda, n)
        else out[#out + 1] = spack('>BI4', 0xdb, n) end
        out[#out + 1] = v
    elseif t == 'table' then
        if level >= MAX_NESTING then out[#out + 1] = '\xc0' return end
        if table_is_array(v) then
            local n = #v
            if n <= 15 then out[#out + 1] = schar(0x90 | n)
            elseif n <= 0xffff then out[#out + 1] = spack('>BI2', 0xdc, n)
            else out[#out + 1] = spack('>BI4', 0xdd, n) end
            for i = 1, n do pack_value(v[i], out, level + 1) end
        else
            local n = 0
            for _ in next, v do n = n + 1 end
            if n <= 15 then out[#out + 1] = schar(0x80 | n)
            elseif n <= 0xffff then out[#out + 1] = spack('>BI2', 0xde, n)
            else out[#out + 1] = spack('>BI4', 0xdf, n) end
            for k, val in next, v do
                pack_value(k, out, level + 1)
                pack_value(val, out, level + 1)
            end
        end
    else
        out[#out + 1] = '\xc0'
    end
end

cmsgpack.pack = function(...)
    local n = select('#', ...)
    if n == 0 then error('MessagePack pack needs input.', 0) end
    local out = {}
    for i = 1, n do pack_value((select(i, ...)), out, 0) end
    return concat(out)
end

local function need(s, pos, n)
    if pos + n - 1 > #s then error('Missing bytes in input.', 0) end
end

local unpack_value
local function unpack_n(s, pos, n, fmt)
    need(s, pos, n)
    return sunpack(fmt, s, pos)
end
local function unpack_array(s, pos, n)
    local t = {}
    for i = 1, n do t[i], pos = unpack_value(s, pos) end
    return t, pos
end
local function unpack_map(s, pos, n)
    local t = {}
    for _ = 1, n do
        local k, v
        k, pos = unpack_value(s, pos)
        v, pos = unpack_value(s, pos)
        if k ~= nil then t[k] = v end
    end
    return t, pos
end
local function unpack_str(s, pos, n)
    need(s, pos, n)
    return ssub(s, pos, pos + n - 1), pos + n
end

unpack_value = function(s, pos)
    need(s, pos, 1)
    local c = sbyte(s, pos)
    pos = pos + 1
    if c <= 0x7f then return c, pos
    elseif c >= 0xe0 then return c - 256, pos
    elseif c >= 0xa0 and c <= 0xbf then return unpack_str(s, pos, c & 0x1f)
    elseif c >= 0x90 and c <= 0x9f then return unpack_array(s, pos, c & 0x0f)
    elseif c >= 0x80 and c <= 0x8f then return unpack_map(s, pos, c & 0x0f)
    elseif c == 0xc0 then return nil, pos
    elseif c == 0xc2 then return false, pos
    elseif c == 0xc3 then return true, pos
    elseif c == 0xcc then return unpack_n(s, pos, 1, '>B')
    elseif c == 0xcd then return unpack_n(s, pos, 2, '>I2')
    elseif c == 0xce then return unpack_n(s, pos, 4, '>I4')
    elseif c == 0xcf then return unpack_n(s, pos, 8, '>i8')
    elseif c == 0xd0 then return unpack_n(s, pos, 1, '>i1')
    elseif c == 0xd1 then return unpack_n(s, pos, 2, '>i2')
    elseif c == 0xd2 then return unpack_n(s, pos, 4, '>i4')
    elseif c == 0xd3 then return unpack_n(s, pos, 8, '>i8')
    elseif c == 0xca then return unpack_n(s, pos, 4, '>f')
    elseif c == 0xcb then return unpack_n(s, pos, 8, '>d')
    elseif c == 0xd9 or c == 0xc4 then local n n, pos = unpack_n(s, pos, 1, '>B') return unpack_str(s, pos, n)
    elseif c == 0xda or c == 0xc5 then local n n, pos = unpack_n(s, pos, 2, '>I2') return unpack_str(s, pos, n)
    elseif c == 0xdb or c == 0xc6 then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_str(s, pos, n)
    elseif c == 0xdc then local n n, pos = unpack_n(s, pos, 2, '>I2') return unpack_array(s, pos, n)
    elseif c == 0xdd then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_array(s, pos, n)
    elseif c == 0xde then local n n, pos = unpack_n(s, pos, 2, '>I2') return unpack_map(s, pos, n)
    elseif c == 0xdf then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_map(s, pos, n)
    end
    error('Bad data format in input.', 0)
end

-- Decodes up to `limit` objects (0: all) from byte `offset` (0-based); returns the next offset
-- (-1 at the end) followed by the objects, as lua-cmsgpack's unpack_full.
local function unpack_full(s, limit, offset)
    if type(s) ~= 'string' then error("bad argument #1 to 'unpack' (string expected)", 0) end
    local pos, results, n = offset + 1, {}, 0
    if offset < 0 or offset > #s then error('Start offset ' .. offset .. ' greater than input length ' .. #s .. '.', 0) end
    while pos <= #s and (limit == 0 or n < limit) do
        n = n + 1
        results[n], pos = unpack_value(s, pos)
    end
    return pos > #s and -1 or pos - 1, results, n
end

cmsgpack.unpack = function(s)
    local _, results, n = unpack_full(s, 0, 0)
    return table.unpack(results, 1, n)
end
cmsgpack.unpack_one = function(s, offset)
    local next_offset, results, n = unpack_full(s, 1, offset or 0)
    return next_offset, table.unpack(results, 1, n)
end
cmsgpack.unpack_limit = function(s, limit, offset)
    local next_offset, results, n = unpack_full(s, limit or 0, offset or 0)
    return next_offset, table.unpack(results, 1, n)
end

-- ===== struct (Roberto Ierusalimschy's struct library), mapped onto string.pack =====
local struct = {}
local function translate(fmt)
    local out = {}
    local i = 1
    while i <= #fmt do
        local c = ssub(fmt, i, i)
        local digits = fmt:match('^%d+', i + 1)
        local step = 1 + (digits and #digits or 0)
        if c == '>' or c == '<' or c == '=' or c == 'x' or c == 'b' or c == 'B' or c == 'h' or c == 'H'
            or c == 'l' or c == 'L' or c == 'T' or c == 'f' or c == 'd' then
            out[#out + 1] = c
            step = 1
        elseif c == '!' then out[#out + 1] = '!' .. (digits or '')
        elseif c == 'i' or c == 'I' then out[#out + 1] = c .. (digits or '4')
        elseif c == 'c' then out[#out + 1] = 'c' .. (digits or '1')
        elseif c == 's' then out[#out + 1] = 'z'; step = 1
        elseif c == ' ' then step = 1
        else error("invalid format option '" .. c .. "'", 0) end
        i = i + step
    end
    return concat(out)
end
struct.pack = function(fmt, ...)
    local ok, r = pcall(spack, translate(fmt), ...)
    if not ok then error(r, 0) end
    return r
end
struct.unpack = function(fmt, s, pos)
    local r = table.pack(pcall(sunpack, translate(fmt), s, pos or 1))
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
end
struct.size = function(fmt)
    local ok, r = pcall(string.packsize, translate(fmt))
    if not ok then error(r, 0) end
    return r
end

return bit, cjson, cmsgpack, struct
