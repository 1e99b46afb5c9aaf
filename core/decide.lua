-- All or nothing over several rules of one client: a request is allowed only if every rule that
-- is not in shadow mode allows it, and then each rule that allows it records it; a rejected
-- request is recorded by none. One script call, so atomic inside Redis: no other decision on
-- these keys runs between the checks and the commits.
--
-- Not runnable from this file alone: the build prepends the modules of core/sliding_log.lua,
-- core/fixed_window.lua, core/sliding_window.lua and core/token_bucket.lua (each file's part above
-- its "standalone" line) and writes the result to <build>/core/lua/decide.lua, which runs with
-- redis-cli --eval like any other script.
--
-- KEYS[i]  rule i's key, <prefix>{<client>}:<rule>:<log|fw|sw|tb> (see the algorithm files). One
--          client's keys of every rule share the client's hash tag, so one call serves all of
--          them, on Redis Cluster too. The keys must be distinct (rule names are unique): every
--          check reads the state before any commit.
-- ARGV     6 per rule, in KEYS order: algorithm, limit, window_ms, burst ('' = limit), cost
--          ('' = 1), shadow ('1' or '0'); then, TESTS ONLY, the clock in microseconds (the
--          gateway never sends it: every rule is then decided at the same TIME)
--
-- Each algorithm module (check, commit, quota, undo) keeps check free of writes, so checking every
-- rule and then committing all of them or none needs no rollback.
--
-- Shadow rules are decided like the others but never reject. A shadow rule records the request
-- when it would allow it and the request is allowed, and not when it would reject it: its own
-- state then evolves exactly as it would if the rule were enforced (only the other rules' states
-- differ: they record the requests it would have rejected), which is what a shadow run is for
-- (what would turning it on change?), and its memory stays bounded like an enforced rule's (a
-- shadow sliding-log holds at most `limit` entries instead of every request).
--
-- Returns {allowed, rule_1, ..., rule_n}; rule_i = {allowed, remaining, reset_ms, retry_after_ms,
-- token}:
--   allowed = 1: the rule allows the request; then remaining and reset_ms are after it when it was
--                recorded, or without it when another rule rejected the request (nothing
--                recorded); retry_after_ms is 0
--   allowed = 0: the rule rejects it (remaining 0, retry_after_ms until it could allow it)
--   token:       what the rule recorded, for core/give_back.lua; '' when it recorded nothing

local modules = {
    ['sliding-log'] = sliding_log,
    ['fixed-window'] = fixed_window,
    ['sliding-window'] = sliding_window,
    ['token-bucket'] = token_bucket,
}

local per_rule = 6
local rules = #KEYS
if #ARGV ~= rules * per_rule and #ARGV ~= rules * per_rule + 1 then
    return redis.error_reply('ERR decide: 6 arguments per key, then optionally the clock')
end
local now = clock(ARGV[rules * per_rule + 1])

local params = {}
for i = 1, rules do
    local base = (i - 1) * per_rule
    local module = modules[ARGV[base + 1]]
    if module == nil then
        return redis.error_reply('ERR decide: unknown algorithm ' .. tostring(ARGV[base + 1]))
    end
    local limit = tonumber(ARGV[base + 2])
    params[i] = {
        module = module,
        limit = limit,
        window_ms = tonumber(ARGV[base + 3]),
        burst = tonumber(ARGV[base + 4]) or limit,
        cost = tonumber(ARGV[base + 5]) or 1,
        shadow = ARGV[base + 6] == '1',
    }
end

-- Check every rule; nothing is written yet.
local plans = {}
local allowed = true
for i = 1, rules do
    local p = params[i]
    plans[i] = p.module.check(KEYS[i], now, p.limit, p.window_ms, p.burst, p.cost)
    if not plans[i].allowed and not p.shadow then
        allowed = false
    end
end

-- Then commit all of them, or none.
local reply = {allowed and 1 or 0}
for i = 1, rules do
    local p, plan = params[i], plans[i]
    if not plan.allowed then
        reply[i + 1] = {0, 0, plan.reset_ms, plan.retry_ms, ''}
    elseif allowed then
        local token = p.module.commit(KEYS[i], plan)
        reply[i + 1] = {1, plan.remaining, plan.reset_ms, 0, token}
    else
        local q = p.module.quota(KEYS[i], now, p.limit, p.window_ms, p.burst)
        reply[i + 1] = {1, q[1], q[2], 0, ''}
    end
end
return reply
