-- Fixed-window counter rate limiter: at most `limit` units of one client per window, the windows
-- aligned on the Redis server's clock (window n spans [n * window, (n + 1) * window) since the
-- epoch). Up to twice `limit` can pass in a span of `window` that straddles a border: `limit`
-- just before it and `limit` just after. One small counter per client; the cheapest algorithm.
--
-- KEYS[1]  the rule's counter family: the counter of window n is KEYS[1] .. ':' .. n, a string
--          holding the units allowed in that window, expiring when the window ends. Derived keys
--          keep KEYS[1]'s hash tag, so on Redis Cluster they live in its slot.
-- ARGV[1]  limit   units allowed per window (a positive integer)
-- ARGV[2]  window  in milliseconds (a positive integer)
-- ARGV[3]  cost    units this request uses (default 1)
-- ARGV[4]  burst   read by token-bucket only; every algorithm file takes the same arguments
-- ARGV[5]  now     TESTS ONLY: the clock in microseconds instead of the server's TIME. The gateway
--                  never sends it.
--
-- Returns {allowed, remaining, reset_ms, retry_after_ms} as core/sliding_log.lua does; reset_ms is
-- until the window ends (0 when nothing is counted in it), and so is retry_after_ms (a cost above
-- the limit is never allowed: then the window).
--
-- Run it on its own: redis-cli --eval build/core/lua/fixed_window.lua 'sluice:{ip:127.0.0.1}:api:fw' , 5 10000

-- int, ceil_ms and clock: core/lua_helpers.lua, which the build puts in front.

local fixed_window = {}

-- The window `now` falls in: its index and the microseconds until it ends. fmod is exact on
-- doubles, so the index is exact where now / window might round up at a border.
local function window_of(now, window_ms)
    local window_us = window_ms * 1000
    local into = math.fmod(now, window_us)
    return (now - into) / window_us, window_us - into
end

function fixed_window.check(key, now, limit, window_ms, burst, cost)
    local index, left_us = window_of(now, window_ms)
    local counter = key .. ':' .. int(index)
    local count = tonumber(redis.call('GET', counter)) or 0
    local plan = {counter = counter, index = index, cost = cost, window_ms = window_ms}
    if count + cost <= limit then
        plan.allowed = true
        plan.remaining = limit - count - cost
        plan.reset_ms = ceil_ms(left_us)
        plan.retry_ms = 0
        return plan
    end
    plan.allowed = false
    plan.remaining = 0
    plan.reset_ms = count > 0 and ceil_ms(left_us) or 0
    if cost > limit then
        plan.retry_ms = window_ms
    else
        plan.retry_ms = math.max(1, ceil_ms(left_us))
    end
    return plan
end

-- Records an allowed plan; returns the window's index, what undo needs.
function fixed_window.commit(key, plan)
    redis.call('INCRBY', plan.counter, plan.cost)
    -- The counter is worthless once its window ends; it goes then (an absolute time: Redis expires
    -- keys by the clock TIME reads).
    redis.call('PEXPIREAT', plan.counter, int((plan.index + 1) * plan.window_ms))
    return int(plan.index)
end

function fixed_window.quota(key, now, limit, window_ms, burst)
    local index, left_us = window_of(now, window_ms)
    local count = tonumber(redis.call('GET', key .. ':' .. int(index))) or 0
    if count == 0 then
        return {limit, 0}
    end
    return {math.max(0, limit - count), ceil_ms(left_us)}
end

-- Takes `cost` back from the window commit counted it in (token: its index), if that counter is
-- still there. Returns the units given back. The TTL stays the window's end.
function fixed_window.undo(key, now, limit, window_ms, burst, cost, token)
    local counter = key .. ':' .. token
    local count = tonumber(redis.call('GET', counter))
    if count == nil then
        return 0
    end
    local back = math.min(count, cost)
    if count - back <= 0 then
        redis.call('DEL', counter)
    else
        redis.call('DECRBY', counter, back)
    end
    return back
end

-- == standalone: one request, one rule (not part of the bundles) ==

local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local plan = fixed_window.check(KEYS[1], clock(ARGV[5]), limit, window_ms,
                                tonumber(ARGV[4]) or limit, cost)
if plan.allowed then
    fixed_window.commit(KEYS[1], plan)
    return {1, plan.remaining, plan.reset_ms, 0}
end
return {0, 0, plan.reset_ms, plan.retry_ms}
