#!lua flags=no-writes
-- What each rule has left for one client, without using any of it: reads only. The no-writes flag
-- above makes Redis refuse any write the script would attempt, and lets it run on a replica or
-- with EVALSHA_RO.
--
-- Not runnable from this file alone: assembled like core/decide.lua, to <build>/core/lua/quota.lua.
--
-- KEYS[i]  rule i's key
-- ARGV     4 per rule, in KEYS order: algorithm, limit, window_ms, burst ('' = limit); then,
--          TESTS ONLY, the clock in microseconds
--
-- Returns {rule_1, ..., rule_n}; rule_i = {remaining, reset_ms}: the units a request could use
-- now, and until the rule's state is forgotten (0 when nothing is counted), as the algorithms
-- report them.

-- `modules` (algorithm name -> module) comes with the modules the build puts in front.

local per_rule = 4
local rules = #KEYS
if #ARGV ~= rules * per_rule and #ARGV ~= rules * per_rule + 1 then
    return redis.error_reply('ERR quota: 4 arguments per key, then optionally the clock')
end
local now = clock(ARGV[rules * per_rule + 1])

local reply = {}
for i = 1, rules do
    local base = (i - 1) * per_rule
    local module = modules[ARGV[base + 1]]
    if module == nil then
        return redis.error_reply('ERR quota: unknown algorithm ' .. tostring(ARGV[base + 1]))
    end
    local limit = tonumber(ARGV[base + 2])
    reply[i] = module.quota(KEYS[i], now, limit, tonumber(ARGV[base + 3]),
                            tonumber(ARGV[base + 4]) or limit)
end
return reply
