-- Valkey's `cmsgpack` library (lua-cmsgpack 0.4.0) in Lua 5.1. Loaded on first use; receives
-- the struct primitives (pack, unpack: nil and a message on bad input) for the binary fields.
local struct = ...
local error, type, tostring, tonumber, select, pairs, next, unpack = error, type, tostring, tonumber, select, pairs, next, unpack
local floor, huge = math.floor, math.huge
local sbyte, schar, ssub = string.byte, string.char, string.sub
local concat = table.concat
local spack, sunpack = struct.pack, struct.unpack

-- ===== cmsgpack (lua-cmsgpack 0.4.0) =====
local cmsgpack = { _NAME = 'cmsgpack', _VERSION = 'lua-cmsgpack 0.4.0', _COPYRIGHT = 'Copyright (C) 2012, Redis Ltd.',
                   _DESCRIPTION = 'MessagePack C implementation for Lua' }
local MAX_NESTING = 16

-- lua-cmsgpack's IS_INT64_EQUIVALENT: finite and unchanged by a cast to int64_t.
local function is_int(n)
    return n == floor(n) and n >= -9.2233720368547758e18 and n < 9.2233720368547758e18
end

local pack_value
local function pack_int(n, out)
    n = n >= 0 and floor(n) or -floor(-n)
    if n >= 0 then
        if n <= 127 then out[#out + 1] = schar(n)
        elseif n <= 0xff then out[#out + 1] = schar(0xcc, n)
        elseif n <= 0xffff then out[#out + 1] = spack('>BH', 0xcd, n)
        elseif n <= 0xffffffff then out[#out + 1] = spack('>BI4', 0xce, n)
        else out[#out + 1] = spack('>Bi8', 0xcf, n) end
    else
        if n >= -32 then out[#out + 1] = schar(n + 256)
        elseif n >= -128 then out[#out + 1] = spack('>Bb', 0xd0, n)
        elseif n >= -32768 then out[#out + 1] = spack('>Bh', 0xd1, n)
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
    if t == 'nil' then out[#out + 1] = '\192'
    elseif t == 'boolean' then out[#out + 1] = v and '\195' or '\194'
    elseif t == 'number' then
        if is_int(v) then pack_int(v, out)
        else
            local f = sunpack('<f', spack('<f', v))
            if f == v then out[#out + 1] = spack('>Bf', 0xca, v)
            else out[#out + 1] = spack('>Bd', 0xcb, v) end
        end
    elseif t == 'string' then
        local n = #v
        if n < 32 then out[#out + 1] = schar(0xa0 + n)
        elseif n <= 0xff then out[#out + 1] = schar(0xd9, n)
        elseif n <= 0xffff then out[#out + 1] = spack('>BH', 0xda, n)
        else out[#out + 1] = spack('>BI4', 0xdb, n) end
        out[#out + 1] = v
    elseif t == 'table' then
        if level >= MAX_NESTING then out[#out + 1] = '\192' return end
        if table_is_array(v) then
            local n = #v
            if n <= 15 then out[#out + 1] = schar(0x90 + n)
            elseif n <= 0xffff then out[#out + 1] = spack('>BH', 0xdc, n)
            else out[#out + 1] = spack('>BI4', 0xdd, n) end
            for i = 1, n do pack_value(v[i], out, level + 1) end
        else
            local n = 0
            for _ in next, v do n = n + 1 end
            if n <= 15 then out[#out + 1] = schar(0x80 + n)
            elseif n <= 0xffff then out[#out + 1] = spack('>BH', 0xde, n)
            else out[#out + 1] = spack('>BI4', 0xdf, n) end
            for k, val in next, v do
                pack_value(k, out, level + 1)
                pack_value(val, out, level + 1)
            end
        end
    else
        out[#out + 1] = '\192'
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
    elseif c >= 0xa0 and c <= 0xbf then return unpack_str(s, pos, c - 0xa0)
    elseif c >= 0x90 and c <= 0x9f then return unpack_array(s, pos, c - 0x90)
    elseif c >= 0x80 and c <= 0x8f then return unpack_map(s, pos, c - 0x80)
    elseif c == 0xc0 then return nil, pos
    elseif c == 0xc2 then return false, pos
    elseif c == 0xc3 then return true, pos
    elseif c == 0xcc then return unpack_n(s, pos, 1, '>B')
    elseif c == 0xcd then return unpack_n(s, pos, 2, '>H')
    elseif c == 0xce then return unpack_n(s, pos, 4, '>I4')
    elseif c == 0xcf then return unpack_n(s, pos, 8, '>I8')
    elseif c == 0xd0 then return unpack_n(s, pos, 1, '>b')
    elseif c == 0xd1 then return unpack_n(s, pos, 2, '>h')
    elseif c == 0xd2 then return unpack_n(s, pos, 4, '>i4')
    elseif c == 0xd3 then return unpack_n(s, pos, 8, '>i8')
    elseif c == 0xca then return unpack_n(s, pos, 4, '>f')
    elseif c == 0xcb then return unpack_n(s, pos, 8, '>d')
    elseif c == 0xd9 or c == 0xc4 then local n n, pos = unpack_n(s, pos, 1, '>B') return unpack_str(s, pos, n)
    elseif c == 0xda or c == 0xc5 then local n n, pos = unpack_n(s, pos, 2, '>H') return unpack_str(s, pos, n)
    elseif c == 0xdb or c == 0xc6 then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_str(s, pos, n)
    elseif c == 0xdc then local n n, pos = unpack_n(s, pos, 2, '>H') return unpack_array(s, pos, n)
    elseif c == 0xdd then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_array(s, pos, n)
    elseif c == 0xde then local n n, pos = unpack_n(s, pos, 2, '>H') return unpack_map(s, pos, n)
    elseif c == 0xdf then local n n, pos = unpack_n(s, pos, 4, '>I4') return unpack_map(s, pos, n)
    end
    error('Bad data format in input.', 0)
end

-- Decodes up to `limit` objects (0: all) from byte `offset` (0-based); returns the next offset
-- (-1 at the end) followed by the objects, as lua-cmsgpack's unpack_full.
local function unpack_full(s, limit, offset)
    if type(s) == 'number' then s = tostring(s)
    elseif type(s) ~= 'string' then error("bad argument #1 to 'unpack' (string expected, got " .. type(s) .. ")", 0) end
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
    return unpack(results, 1, n)
end
cmsgpack.unpack_one = function(s, offset)
    local next_offset, results, n = unpack_full(s, 1, offset or 0)
    return next_offset, unpack(results, 1, n)
end
cmsgpack.unpack_limit = function(s, limit, offset)
    local next_offset, results, n = unpack_full(s, limit or 0, offset or 0)
    return next_offset, unpack(results, 1, n)
end

return cmsgpack
