-- Helpers of every algorithm script. Redis scripts cannot load one another, so the build puts
-- this file in front of each script it assembles (cmake/lua_bundle.cmake): the algorithms run on
-- their own from <build>/core/lua/, and the drivers declare these once.

-- Microseconds since the epoch need 16 digits: exact in a double, but tostring() would print
-- only 14 significant ones. Numbers passed to redis.call are converted exactly by Redis (%.17g,
-- in C); a number inside a string (a key's suffix, an exclusive bound) is formatted here, by hand.
local function int(x)
    return string.format('%.0f', x)
end

-- Microseconds to milliseconds, rounded up (a wait is never announced shorter than it is).
local function ceil_ms(us)
    if us <= 0 then
        return 0
    end
    return math.ceil(us / 1000)
end

-- The server's clock, shared by every gateway on this Redis: no gateway's clock skew can widen or
-- narrow a window. (Scripts are replicated by their effects, so TIME is allowed.) Expiry times are
-- set as absolute times from this clock (PEXPIREAT): Redis expires keys by the same clock.
-- Returns the time in microseconds, as a number and as text (its digits, or the override's), the
-- text made without formatting a number. `override` is the scripts' test clock.
local function clock(override)
    if override ~= nil and override ~= '' then
        return tonumber(override), override
    end
    local time = redis.call('TIME')
    local usec = time[2]
    return tonumber(time[1]) * 1000000 + tonumber(usec),
           time[1] .. string.rep('0', 6 - #usec) .. usec
end
