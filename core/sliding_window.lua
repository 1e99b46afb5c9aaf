-- Sliding-window counter rate limiter (Cloudflare's): two counters per client, the units allowed in
-- the current aligned window and in the previous one. The span of `window` ending now overlaps the
-- previous window by (window - elapsed), so the units in it are estimated as
--
--     estimate = previous * (window - elapsed) / window + current
--
-- and a request of `cost` is allowed when estimate + cost <= limit. O(1) memory, approximate:
-- the estimate is exact when the previous window's units were spread evenly over it. What holds
-- whatever the arrivals:
--   - at most `limit` units per aligned window (the current counter alone is bounded by it), so at
--     most 2 * limit in any span of `window`, and the estimate never exceeds `limit` right after
--     an allowed request;
--   - a request is never rejected while estimate + cost <= limit; it can be rejected while fewer
--     than `limit` units were allowed in the exact span before it (previous units that came early
--     in their window are still weighted), and allowed while more were (ones that came late);
--   - the long-run rate is at most limit per window.
--
-- KEYS[1]  the client's counters: a hash {w = index of the current window, c = its units,
--          p = the previous window's units}, kept until the current window has also ended as the
--          previous one (TTL <= 2 * window)
-- ARGV[1]  limit   units allowed per window (a positive integer)
-- ARGV[2]  window  in milliseconds (a positive integer)
-- ARGV[3]  cost    units this request uses (default 1)
-- ARGV[4]  burst   read by token-bucket only; every algorithm file takes the same arguments
-- ARGV[5]  now     TESTS ONLY: the clock in microseconds instead of the server's TIME. The gateway
--                  never sends it.
--
-- Integer arithmetic in microseconds is exact while limit * window stays below 2^53 µs (a limit
-- of 2.5 million per hour).
--
-- Returns {allowed, remaining, reset_ms, retry_after_ms} as core/sliding_log.lua does; remaining is
-- floor(limit - estimate) after this request, reset_ms is until both counters are forgotten (the
-- end of the window after the current one when the current counter is not 0).
--
-- Run it on its own: redis-cli --eval build/core/lua/sliding_window.lua 'sluice:{ip:127.0.0.1}:api:sw' , 5 10000

-- int, ceil_ms and clock: core/lua_helpers.lua, which the build puts in front.

local sliding_window = {}

-- floor(a / b) for integers a >= 0, b > 0, exact on doubles (a / b can round up to an integer).
local function idiv(a, b)
    return (a - math.fmod(a, b)) / b
end

-- The counters as seen at `now`: the current window's index, microseconds elapsed in it, and its
-- and the previous window's units.
local function counters(key, now, window_us)
    local elapsed = math.fmod(now, window_us)
    local index = (now - elapsed) / window_us
    local stored = redis.call('HMGET', key, 'w', 'c', 'p')
    local w = tonumber(stored[1])
    local current, previous = 0, 0
    if w == index then
        current, previous = tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
    elseif w == index - 1 then
        previous = tonumber(stored[2]) or 0
    end
    return index, elapsed, current, previous
end

-- Until both counters are forgotten.
local function reset_us(window_us, elapsed, current, previous)
    if current > 0 then
        return 2 * window_us - elapsed
    elseif previous > 0 then
        return window_us - elapsed
    end
    return 0
end

function sliding_window.check(key, now, limit, window_ms, burst, cost)
    local window_us = window_ms * 1000
    local index, elapsed, current, previous = counters(key, now, window_us)
    -- Everything is scaled by window_us: estimate * window_us = weighted + current * window_us.
    local weighted = previous * (window_us - elapsed)
    local room = limit * window_us - weighted - (current + cost) * window_us
    local plan = {
        index = index,
        current = current + cost,
        previous = previous,
        window_ms = window_ms,
    }
    if room >= 0 then
        plan.allowed = true
        plan.remaining = idiv(room, window_us)
        plan.reset_ms = ceil_ms(2 * window_us - elapsed)
        plan.retry_ms = 0
        return plan
    end
    plan.allowed = false
    plan.remaining = 0
    plan.reset_ms = ceil_ms(reset_us(window_us, elapsed, current, previous))
    if cost > limit then
        plan.retry_ms = window_ms
        return plan
    end
    local wait
    if current + cost <= limit then
        -- In this window, once previous * (window - elapsed') <= (limit - current - cost) * window
        -- (previous > 0, or it would fit now).
        local overlap = idiv((limit - current - cost) * window_us, previous)
        wait = (window_us - overlap) - elapsed
    else
        -- In the next one, where the current counter is the previous and nothing is current yet:
        -- once current * (window - elapsed') <= (limit - cost) * window.
        local overlap = idiv((limit - cost) * window_us, current)
        wait = (window_us - elapsed) + (window_us - overlap)
    end
    plan.retry_ms = math.max(1, ceil_ms(wait))
    return plan
end

-- Records an allowed plan; returns the window's index, what undo needs.
function sliding_window.commit(key, plan)
    redis.call('HSET', key, 'w', int(plan.index), 'c', plan.current, 'p', plan.previous)
    -- The current counter weighs on decisions until the next window has ended too (an absolute
    -- time: Redis expires keys by the clock TIME reads).
    redis.call('PEXPIREAT', key, int((plan.index + 2) * plan.window_ms))
    return int(plan.index)
end

function sliding_window.quota(key, now, limit, window_ms, burst)
    local window_us = window_ms * 1000
    local index, elapsed, current, previous = counters(key, now, window_us)
    local room = limit * window_us - previous * (window_us - elapsed) - current * window_us
    return {math.max(0, idiv(math.max(0, room), window_us)),
            ceil_ms(reset_us(window_us, elapsed, current, previous))}
end

-- Takes `cost` back from the window commit counted it in (token: its index): still the current
-- one, or by now the previous one; later it weighs nothing and is left alone. Returns the units
-- given back. The TTL stays (HINCRBY keeps it).
function sliding_window.undo(key, now, limit, window_ms, burst, cost, token)
    local index = tonumber(token)
    local stored = redis.call('HMGET', key, 'w', 'c', 'p')
    local w = tonumber(stored[1])
    local field
    if w == index then
        field = 'c'
    elseif w == index + 1 then
        field = 'p'
    else
        return 0
    end
    local current, previous = tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
    local back = math.min(field == 'c' and current or previous, cost)
    if back > 0 then
        redis.call('HINCRBY', key, field, -back)
    end
    -- Both counters at 0 weigh nothing: the key goes, as if never written.
    if current + previous - back <= 0 then
        redis.call('DEL', key)
    end
    return back
end

-- == standalone: one request, one rule (not part of the bundles) ==

local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local plan = sliding_window.check(KEYS[1], clock(ARGV[5]), limit, window_ms,
                                  tonumber(ARGV[4]) or limit, cost)
if plan.allowed then
    sliding_window.commit(KEYS[1], plan)
    return {1, plan.remaining, plan.reset_ms, 0}
end
return {0, 0, plan.reset_ms, plan.retry_ms}
