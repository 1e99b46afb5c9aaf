-- Sliding-window log rate limiter: at most `limit` requests of one client in any span of
-- `window`, measured on the Redis server's clock.
--
-- KEYS[1]  the client's log: a sorted set holding exactly its allowed requests still in the
--          window, scored by arrival time in microseconds
-- ARGV[1]  limit   requests allowed per window (a positive integer)
-- ARGV[2]  window  in milliseconds (a positive integer)
--
-- Returns {allowed, remaining, reset_ms, retry_after_ms}:
--   allowed         1 when the request is allowed (and recorded), 0 when rejected (not recorded)
--   remaining       requests still allowed in the window after this one
--   reset_ms        until the oldest counted request leaves the window; 0 when none is counted
--   retry_after_ms  when rejected: until a request could be allowed; 0 when allowed
--
-- Run it on its own: redis-cli --eval core/sliding_log.lua 'sluice:{ip:127.0.0.1}:log' , 5 10000

local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local window_us = window_ms * 1000

-- The server's clock, shared by every gateway on this Redis: no gateway's clock skew can widen
-- or narrow the window. (Scripts are replicated by their effects, so TIME is allowed here.)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
-- Microseconds since the epoch need 16 digits: exact in a double, but tostring() would print
-- only 14 significant ones, so every number sent back to Redis is formatted by hand.
local function int(x)
    return string.format('%.0f', x)
end
local function ceil_ms(us)
    if us <= 0 then
        return 0
    end
    return math.ceil(us / 1000)
end

-- A request is counted while now - arrival < window: drop those at or before now - window.
redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window_us))
local count = redis.call('ZCARD', key)

if count < limit then
    -- Members must be unique, or two requests in the same microsecond would be one entry and
    -- the second would go uncounted (the textbook "timestamp as member" bug). Within one
    -- microsecond `count` grows with every request, so time plus count is unique; NX and the
    -- suffix loop guard against a clock that stepped back onto an older entry.
    local member = time[1] .. string.format('%06d', tonumber(time[2])) .. '-' .. count
    while redis.call('ZADD', key, 'NX', int(now), member) == 0 do
        member = member .. '+'
    end
    -- The newest entry leaves the window last, `window` from now: the whole log expires then.
    redis.call('PEXPIRE', key, window_ms)
    count = count + 1
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {1, limit - count, ceil_ms(tonumber(oldest[2]) + window_us - now), 0}
end

-- Rejected, and not recorded. A request fits again once count - limit + 1 entries have left:
-- when the entry at index count - limit (0 = oldest) does. Usually count == limit and that is the
-- oldest; a log can hold more when the limit was lowered while it was live.
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local pivot = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
local reset_ms = ceil_ms(tonumber(oldest[2]) + window_us - now)
local retry_ms = ceil_ms(tonumber(pivot[2]) + window_us - now)
if retry_ms < 1 then
    retry_ms = 1
end
return {0, 0, reset_ms, retry_ms}
