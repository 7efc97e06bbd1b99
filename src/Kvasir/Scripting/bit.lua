-- Valkey's `bit` library (LuaBitOp) in Lua 5.4: 32-bit signed results. Errors are raised at
-- level 0 like the C original, which reports no script position. Loaded on first use.
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

return bit
