-- Valkey's `struct` library (Roberto Ierusalimschy's struct), mapped onto string.pack. Loaded on first use.
local error, type, tostring, tonumber, select, pairs, next = error, type, tostring, tonumber, select, pairs, next
local floor, huge, mtype = math.floor, math.huge, math.type
local sbyte, schar, sfmt, ssub, spack, sunpack, srep = string.byte, string.char, string.format, string.sub, string.pack, string.unpack, string.rep
local concat = table.concat

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

return struct
