-- Token-bucket rate limiter as GCRA (the generic cell rate algorithm): a bucket of `burst` tokens
-- refilled continuously at `limit` per `window`, kept as one number per client, the "theoretical
-- arrival time" (TAT): when the bucket will be full again if nothing more arrives. A token comes
-- back every emission interval T = window / limit (rounded up to a whole microsecond, so the rate
-- never exceeds limit per window); at `now` the bucket holds burst - (TAT - now) / T tokens.
--
-- A request of `cost` is allowed when the bucket holds at least `cost` tokens, i.e. when
-- max(TAT, now) + cost * T - now <= burst * T, and then TAT moves to max(TAT, now) + cost * T.
-- So: `burst` units at once from a full bucket, at most burst + d * limit / window units in any
-- span of d, and a request is never rejected while the bucket holds its cost.
--
-- KEYS[1]  the client's TAT: a string, microseconds since the epoch; it expires when the bucket
--          is full again (TTL <= burst * T: window * burst / limit, the window when burst = limit)
-- ARGV[1]  limit   tokens refilled per window (a positive integer)
-- ARGV[2]  window  in milliseconds (a positive integer)
-- ARGV[3]  cost    tokens this request uses (default 1)
-- ARGV[4]  burst   the bucket's capacity (default limit)
-- ARGV[5]  now     TESTS ONLY: the clock in microseconds instead of the server's TIME. The gateway
--                  never sends it.
--
-- Returns {allowed, remaining, reset_ms, retry_after_ms} as core/sliding_log.lua does: remaining is
-- the whole tokens left, reset_ms until the bucket is full again, retry_after_ms until it holds
-- `cost` (a cost above the burst is never allowed: then the window).
--
-- Run it on its own: redis-cli --eval build/core/lua/token_bucket.lua 'sluice:{ip:127.0.0.1}:api:tb' , 5 10000 1 10

-- int, ceil_ms and clock: core/lua_helpers.lua, which the build puts in front.

local token_bucket = {}

local function idiv(a, b)
    return (a - math.fmod(a, b)) / b
end

-- The emission interval in whole microseconds, rounded up.
local function interval(limit, window_ms)
    return math.ceil(window_ms * 1000 / limit)
end

-- The TAT as seen at `now`: never in the past (a full bucket holds no more than burst).
local function tat_at(key, now)
    local tat = tonumber(redis.call('GET', key))
    if tat == nil or tat < now then
        return now
    end
    return tat
end

function token_bucket.check(key, now, limit, window_ms, burst, cost)
    local t = interval(limit, window_ms)
    local tat = tat_at(key, now)
    local new_tat = tat + cost * t
    local plan = {new_tat = new_tat, now = now, amount = cost * t}
    if new_tat - now <= burst * t then
        plan.allowed = true
        plan.remaining = idiv(burst * t - (new_tat - now), t)
        plan.reset_ms = ceil_ms(new_tat - now)
        plan.retry_ms = 0
        return plan
    end
    plan.allowed = false
    plan.remaining = 0
    plan.reset_ms = ceil_ms(tat - now)
    if cost > burst then
        plan.retry_ms = window_ms
    else
        plan.retry_ms = math.max(1, ceil_ms(new_tat - now - burst * t))
    end
    return plan
end

-- Records an allowed plan; returns the microseconds it moved the TAT, what undo needs.
function token_bucket.commit(key, plan)
    -- It expires when the bucket is full again (an absolute time: Redis expires keys by the clock
    -- TIME reads).
    redis.call('SET', key, int(plan.new_tat), 'PXAT', int(math.ceil(plan.new_tat / 1000)))
    return int(plan.amount)
end

function token_bucket.quota(key, now, limit, window_ms, burst)
    local t = interval(limit, window_ms)
    local tat = tat_at(key, now)
    return {math.max(0, idiv(math.max(0, burst * t - (tat - now)), t)), ceil_ms(tat - now)}
end

-- Moves the TAT back by what commit moved it (token: microseconds): the tokens return. Returns the
-- units given back: `cost`, or 0 when the bucket had refilled and its key expired.
function token_bucket.undo(key, now, limit, window_ms, burst, cost, token)
    local tat = tonumber(redis.call('GET', key))
    if tat == nil then
        return 0
    end
    local back = tat - tonumber(token)
    if back <= now then
        redis.call('DEL', key)
    else
        redis.call('SET', key, int(back), 'PXAT', int(math.ceil(back / 1000)))
    end
    return cost
end

-- == standalone: one request, one rule (not part of the bundles) ==

local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local plan = token_bucket.check(KEYS[1], clock(ARGV[5]), limit, window_ms,
                                tonumber(ARGV[4]) or limit, cost)
if plan.allowed then
    token_bucket.commit(KEYS[1], plan)
    return {1, plan.remaining, plan.reset_ms, 0}
end
return {0, 0, plan.reset_ms, plan.retry_ms}
