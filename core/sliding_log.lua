-- Sliding-window log rate limiter: at most `limit` units of one client in any span of `window`,
-- measured on the Redis server's clock.
--
-- KEYS[1]  the client's log: a sorted set holding exactly its allowed units still in the window,
--          one member per unit, scored by arrival time in microseconds
-- ARGV[1]  limit   units allowed per window (a positive integer)
-- ARGV[2]  window  in milliseconds (a positive integer)
-- ARGV[3]  cost    units this request uses (default 1)
-- ARGV[4]  burst   read by token-bucket only; every algorithm file takes the same arguments
-- ARGV[5]  now     TESTS ONLY: the clock in microseconds instead of the server's TIME. The gateway
--                  never sends it (core/limiter.cpp sends limit and window only).
--
-- Returns {allowed, remaining, reset_ms, retry_after_ms}:
--   allowed         1 when the request is allowed (and recorded), 0 when rejected (not recorded)
--   remaining       units still allowed in the window after this one
--   reset_ms        until the oldest counted request leaves the window; 0 when none is counted
--   retry_after_ms  when rejected: until a request could be allowed; 0 when allowed (a cost
--                   above the limit is never allowed: then the window)
--
-- The part above the "standalone" line is a module (check, commit, quota, undo) that
-- core/decide.lua, core/quota.lua and core/give_back.lua are assembled from at build time; the
-- part below runs one request against one rule.
--
-- Run it on its own: redis-cli --eval core/sliding_log.lua 'sluice:{ip:127.0.0.1}:log' , 5 10000

-- Helpers every algorithm file repeats, so that each runs on its own (a bundle redeclares them).
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
-- The server's clock, shared by every gateway on this Redis: no gateway's clock skew can widen or
-- narrow a window. (Scripts are replicated by their effects, so TIME is allowed.) Expiry times are
-- set as absolute times from this clock (PEXPIREAT): Redis expires keys by the same clock.
local function clock(override)
    if override ~= nil and override ~= '' then
        return tonumber(override)
    end
    local time = redis.call('TIME')
    return tonumber(time[1]) * 1000000 + tonumber(time[2])
end

local sliding_log = {}

-- The oldest entry still in the window (score > now - window), or nil.
local function oldest_in_window(key, from)
    local first = redis.call('ZRANGEBYSCORE', key, '(' .. int(from), '+inf', 'WITHSCORES', 'LIMIT',
                             0, 1)
    if #first == 0 then
        return nil
    end
    return tonumber(first[2])
end

-- The score of the entry at `rank` (0 = oldest) of a trimmed log.
local function score_at(key, rank)
    return tonumber(redis.call('ZRANGE', key, rank, rank, 'WITHSCORES')[2])
end

-- Would `cost` units be allowed at `now`? The plan holds the reply and what commit writes.
--
-- The log is trimmed first: entries at or before now - window have left the window, and no
-- decision counts them, so removing them changes nothing any check, commit or quota sees (check
-- stays free of visible writes, as core/decide.lua needs). After the trim the log holds exactly
-- the counted entries: ZCARD counts them and rank 0 is the oldest, so the common decision costs
-- ZREMRANGEBYSCORE, ZCARD and, when there is an entry, one ZRANGE (the allowed path's
-- X-RateLimit-Reset, the rejected path's Retry-After).
function sliding_log.check(key, now, limit, window_ms, burst, cost)
    local window_us = window_ms * 1000
    redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window_us))
    local count = redis.call('ZCARD', key)
    local plan = {now = now, window_ms = window_ms, cost = cost, count = count}
    if count + cost <= limit then
        plan.allowed = true
        plan.remaining = limit - count - cost
        plan.reset_ms = count == 0 and window_ms or ceil_ms(score_at(key, 0) + window_us - now)
        plan.retry_ms = 0
        return plan
    end
    plan.allowed = false
    plan.remaining = 0
    if count == 0 then
        -- Only a cost above the limit gets here with an empty log: never allowed.
        plan.reset_ms = 0
        plan.retry_ms = window_ms
        return plan
    end
    -- It fits once count + cost - limit entries have left: when the entry at that rank - 1 does.
    -- Usually count == limit and cost == 1: the oldest, whose score is also the reset. A log can
    -- hold more when the limit was lowered while it was live.
    local pivot_rank = count + cost - limit - 1
    local oldest = score_at(key, 0)
    plan.reset_ms = ceil_ms(oldest + window_us - now)
    if cost > limit then
        plan.retry_ms = window_ms
        return plan
    end
    local pivot = pivot_rank == 0 and oldest or score_at(key, pivot_rank)
    plan.retry_ms = math.max(1, ceil_ms(pivot + window_us - now))
    return plan
end

-- Records an allowed plan; returns what undo needs to take it back: the members, space-separated.
function sliding_log.commit(key, plan)
    local now = plan.now
    local count = plan.count
    -- Members must be unique, or two units in the same microsecond would be one entry and the
    -- second would go uncounted (the textbook "timestamp as member" bug). Within one microsecond
    -- `count` grows with every unit, so time plus count is unique; NX and the suffix loop guard
    -- against a clock that stepped back onto an older entry.
    if plan.cost == 1 then
        local member = int(now) .. '-' .. count
        while redis.call('ZADD', key, 'NX', int(now), member) == 0 do
            member = member .. '+'
        end
        redis.call('PEXPIREAT', key, int(math.ceil((now + plan.window_ms * 1000) / 1000)))
        return member
    end
    local members = {}
    for i = 0, plan.cost - 1 do
        local member = int(now) .. '-' .. (count + i)
        while redis.call('ZADD', key, 'NX', int(now), member) == 0 do
            member = member .. '+'
        end
        members[#members + 1] = member
    end
    -- The newest entry leaves the window last, `window` from now: the whole log expires then. An
    -- absolute time from the script's clock: Redis expires keys by the clock TIME reads.
    redis.call('PEXPIREAT', key, int(math.ceil((now + plan.window_ms * 1000) / 1000)))
    return table.concat(members, ' ')
end

-- {remaining, reset_ms} at `now`, without using any quota.
function sliding_log.quota(key, now, limit, window_ms, burst)
    local from = now - window_ms * 1000
    local count = redis.call('ZCOUNT', key, '(' .. int(from), '+inf')
    if count == 0 then
        return {limit, 0}
    end
    local oldest = oldest_in_window(key, from)
    return {math.max(0, limit - count), ceil_ms(oldest + window_ms * 1000 - now)}
end

-- Gives back what commit recorded (its token: the members). Returns the units removed. The log
-- then expires when its newest remaining entry leaves the window, as if they had never been added.
function sliding_log.undo(key, now, limit, window_ms, burst, cost, token)
    local removed = 0
    for member in string.gmatch(token, '%S+') do
        removed = removed + redis.call('ZREM', key, member)
    end
    local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if removed > 0 and #newest == 2 then
        local ends = math.ceil((tonumber(newest[2]) + window_ms * 1000) / 1000)
        redis.call('PEXPIREAT', key, int(ends))
    end
    return removed
end

-- == standalone: one request, one rule (not part of the bundles) ==

local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3]) or 1
local plan = sliding_log.check(KEYS[1], clock(ARGV[5]), limit, window_ms,
                               tonumber(ARGV[4]) or limit, cost)
if plan.allowed then
    sliding_log.commit(KEYS[1], plan)
    return {1, plan.remaining, plan.reset_ms, 0}
end
return {0, 0, plan.reset_ms, plan.retry_ms}
