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
--                  never runs this part: it decides through core/decide.lua, on the server's TIME.
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
-- Run it on its own: redis-cli --eval build/core/lua/sliding_log.lua 'sluice:{ip:127.0.0.1}:log' , 5 10000

-- int, ceil_ms and clock: core/lua_helpers.lua, which the build puts in front.

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

-- The trim bound (now - window) and the log's expiry time (now + window, in ms) as text: a number
-- passed to redis.call is formatted with printf by Redis, and a 16-digit one is costly. Every
-- check of a script call runs at one `now`, so each window's pair is made once per call (a batch
-- of a hundred checks of one rule formats two numbers, not two hundred).
local bounds_now, bounds = nil, nil
local function bounds_of(now, window_ms)
    if bounds_now ~= now then
        bounds_now, bounds = now, {}
    end
    local b = bounds[window_ms]
    if b == nil then
        local window_us = window_ms * 1000
        b = {int(now - window_us), int(math.ceil((now + window_us) / 1000))}
        bounds[window_ms] = b
    end
    return b[1], b[2]
end

-- The score of the entry at `rank` (0 = oldest; text, for the reason above) of a trimmed log.
--
-- Read from the member, whose leading digits are its score (record() writes both from the same
-- text): a score in a reply is a double Redis formats with printf, and that formatting is a
-- sizeable part of a decision's cost.
-- A member some other writer added without that prefix is read by its score. nil: no such rank.
local function score_at(key, rank)
    local member = redis.call('ZRANGE', key, rank, rank)[1]
    if member == nil then
        return nil
    end
    local digits = string.match(member, '^%d+')
    if digits then
        return tonumber(digits)
    end
    return tonumber(redis.call('ZSCORE', key, member))
end

-- Trims the log and counts what is left: returns the count and the oldest counted entry's score
-- (nil for an empty log). Entries at or before now - window have left the window, and no decision
-- counts them, so removing them changes nothing any check, commit or quota sees (a check stays
-- free of visible writes, as core/decide.lua needs). After the trim the log holds exactly the
-- counted entries: ZCARD counts them and rank 0 is the oldest.
--
-- The oldest entry is read first: the answer needs it anyway, and while it is in the window
-- nothing has left the window, so the trim (the costliest command of a decision) is skipped.
local function trimmed_log(key, now, window_ms)
    local oldest = score_at(key, '0')
    if oldest == nil then
        return 0, nil
    end
    if oldest > now - window_ms * 1000 then
        return redis.call('ZCARD', key), oldest
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', (bounds_of(now, window_ms)))
    local count = redis.call('ZCARD', key)
    if count == 0 then
        return 0, nil
    end
    return count, score_at(key, '0')
end

-- The answer for `cost` units when `count` are counted, the oldest at `oldest`: allowed (1 or 0),
-- remaining, reset_ms, retry_ms. The allowed path's reset and the rejected path's retry are
-- usually both the oldest entry's.
local function answer(key, now, window_ms, limit, cost, count, oldest)
    local window_us = window_ms * 1000
    if count + cost <= limit then
        if count == 0 then
            return 1, limit - cost, window_ms, 0
        end
        return 1, limit - count - cost, ceil_ms(oldest + window_us - now), 0
    end
    if count == 0 then
        -- Only a cost above the limit gets here with an empty log: never allowed.
        return 0, 0, 0, window_ms
    end
    local reset_ms = ceil_ms(oldest + window_us - now)
    if cost > limit then
        return 0, 0, reset_ms, window_ms
    end
    -- It fits once count + cost - limit entries have left: when the entry at that rank - 1 does.
    -- Usually count == limit and cost == 1: the oldest. A log can hold more when the limit was
    -- lowered while it was live.
    local pivot_rank = count + cost - limit - 1
    local pivot = pivot_rank == 0 and oldest or score_at(key, int(pivot_rank))
    return 0, 0, reset_ms, math.max(1, ceil_ms(pivot + window_us - now))
end

-- Records `cost` units at `now` over `count` counted ones; returns what undo needs to take them
-- back: the members, space-separated.
local function record(key, now, stamp, window_ms, cost, count)
    -- The newest entry leaves the window last, `window` from now: the whole log expires then. An
    -- absolute time from the script's clock: Redis expires keys by the clock TIME reads.
    local _, expires = bounds_of(now, window_ms)
    -- Members must be unique, or two units in the same microsecond would be one entry and the
    -- second would go uncounted (the textbook "timestamp as member" bug). Within one microsecond
    -- `count` grows with every unit, so time plus count is unique; NX and the suffix loop guard
    -- against a clock that stepped back onto an older entry.
    local score = stamp or int(now)
    local prefix = score .. '-'
    if cost == 1 then
        local member = prefix .. count
        while redis.call('ZADD', key, 'NX', score, member) == 0 do
            member = member .. '+'
        end
        redis.call('PEXPIREAT', key, expires)
        return member
    end
    local members = {}
    for i = 0, cost - 1 do
        local member = prefix .. (count + i)
        while redis.call('ZADD', key, 'NX', score, member) == 0 do
            member = member .. '+'
        end
        members[#members + 1] = member
    end
    redis.call('PEXPIREAT', key, expires)
    return table.concat(members, ' ')
end

-- Would `cost` units be allowed at `now`? The plan holds the reply and what commit writes.
-- One ZRANGE for an empty log; ZRANGE and ZCARD while the oldest entry is in the window; else
-- ZRANGE, ZREMRANGEBYSCORE, ZCARD and one more ZRANGE for the new oldest.
function sliding_log.check(key, now, limit, window_ms, burst, cost, stamp)
    local count, oldest = trimmed_log(key, now, window_ms)
    local allowed, remaining, reset_ms, retry_ms = answer(key, now, window_ms, limit, cost, count,
                                                          oldest)
    return {allowed = allowed == 1, remaining = remaining, reset_ms = reset_ms,
            retry_ms = retry_ms, now = now, stamp = stamp, window_ms = window_ms, cost = cost,
            count = count}
end

-- Records an allowed plan; returns what undo needs to take it back: the members, space-separated.
function sliding_log.commit(key, plan)
    return record(key, plan.now, plan.stamp, plan.window_ms, plan.cost, plan.count)
end

-- check and commit in one, for a request under this rule alone: the common case, with no plan
-- table. Returns allowed (1 or 0), remaining, reset_ms, retry_ms and the token ('' if rejected).
function sliding_log.decide(key, now, limit, window_ms, burst, cost, stamp)
    local count, oldest = trimmed_log(key, now, window_ms)
    local allowed, remaining, reset_ms, retry_ms = answer(key, now, window_ms, limit, cost, count,
                                                          oldest)
    if allowed == 1 then
        return 1, remaining, reset_ms, 0, record(key, now, stamp, window_ms, cost, count)
    end
    return 0, 0, reset_ms, retry_ms, ''
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
local now, stamp = clock(ARGV[5])
local allowed, remaining, reset_ms, retry_ms = sliding_log.decide(KEYS[1], now, limit, window_ms,
                                                                  tonumber(ARGV[4]) or limit, cost,
                                                                  stamp)
return {allowed, remaining, reset_ms, retry_ms}
