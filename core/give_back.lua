-- Gives back what core/decide.lua recorded, for a request decided in several calls: on Redis
-- Cluster, rules keyed by different client identities (ip and header:X-Api-Key) live in different
-- slots, so each identity's rules are decided by one decide.lua call of their own, all or nothing
-- among themselves. When a later call rejects the request, the earlier calls' records are undone
-- with this script, from the tokens decide.lua returned:
--   sliding-log     the members it added are removed
--   fixed-window    the window's counter is decremented (if the window has not ended)
--   sliding-window  the counter of the window it was counted in is decremented (current or, by
--                   now, previous; later it weighs nothing)
--   token-bucket    the TAT moves back by what it moved: the tokens return
--
-- What a concurrent observer sees in between (after the allowing call, before this one): the
-- request counted, as if it had been allowed. Another request on the same key can find fewer
-- units left, or be rejected because of it, and /quota shows it; that rejection stands. The state
-- never counts less than what was really served, so no limit is exceeded in between. Afterwards
-- the state is what it would have been without the request, exactly for sliding-log,
-- fixed-window and sliding-window; for token-bucket, when the bucket was full at the allowing
-- call and others took tokens before this one, the bucket is credited the refill of that gap
-- (at most (gap / window) * limit tokens more than exact, bounded by the give-back's delay).
--
-- Not runnable from this file alone: assembled like core/decide.lua, to
-- <build>/core/lua/give_back.lua.
--
-- KEYS[i]  rule i's key
-- ARGV     6 per rule, in KEYS order: algorithm, limit, window_ms, burst ('' = limit), cost
--          ('' = 1), token (from decide.lua; '' = nothing to give back); then, TESTS ONLY, the
--          clock in microseconds
--
-- Returns {units_1, ..., units_n}: the units given back per rule (0 when nothing was left to).

-- `modules` (algorithm name -> module) comes with the modules the build puts in front.

local per_rule = 6
local rules = #KEYS
if #ARGV ~= rules * per_rule and #ARGV ~= rules * per_rule + 1 then
    return redis.error_reply('ERR give_back: 6 arguments per key, then optionally the clock')
end
local now = clock(ARGV[rules * per_rule + 1])

local reply = {}
for i = 1, rules do
    local base = (i - 1) * per_rule
    local module = modules[ARGV[base + 1]]
    if module == nil then
        return redis.error_reply('ERR give_back: unknown algorithm ' .. tostring(ARGV[base + 1]))
    end
    local limit = tonumber(ARGV[base + 2])
    local token = ARGV[base + 6]
    reply[i] = 0
    if token ~= '' then
        reply[i] = module.undo(KEYS[i], now, limit, tonumber(ARGV[base + 3]),
                               tonumber(ARGV[base + 4]) or limit, tonumber(ARGV[base + 5]) or 1,
                               token)
    end
end
return reply
