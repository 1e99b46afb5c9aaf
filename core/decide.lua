-- Decides a batch of checks in one script call. A check is one client's request against one or
-- more rules, all or nothing: it is allowed only if every rule that is not in shadow mode allows
-- it, and then each rule that allows it records it; a rejected request is recorded by none. The
-- whole batch is one script call, so atomic inside Redis: no other decision on these keys runs
-- between a check's reads and its commits, and the checks run in order, each seeing the ones
-- before it (two checks of one key in a batch count as two requests).
--
-- Not runnable from this file alone: the build prepends the modules of core/sliding_log.lua,
-- core/fixed_window.lua, core/sliding_window.lua and core/token_bucket.lua (each file's part above
-- its "standalone" line) and writes the result to <build>/core/lua/decide.lua, which runs with
-- redis-cli --eval like any other script.
--
-- KEYS     every check's keys, check after check: rule i's key is <prefix>{<client>}:<rule>:
--          <log|fw|sw|tb> (see the algorithm files). One client's keys share its hash tag; on
--          Redis Cluster a batch holds only keys of one slot. A check's keys are distinct (rule
--          names are unique): every check reads the state before any of its commits.
-- ARGV[1]  TESTS ONLY: the clock in microseconds; '' (the gateway) reads TIME, once per batch:
--          every check of a batch is decided at the same time
-- ARGV[2]  D, the number of rule definitions; then 6 arguments per definition: algorithm,
--          limit, window_ms, burst ('' = limit), cost ('' = 1), shadow ('1' or '0'). A batch
--          names each rule once, however many checks use it.
-- then per check: n, its number of rules (negative: also reply with tokens), then n definition
--          numbers (1-based), one per key of the check, in KEYS order
--
-- Each algorithm module (check, commit, quota, undo) keeps check free of visible writes, so
-- checking every rule of a check and then committing all of them or none needs no rollback.
--
-- Shadow rules are decided like the others but never reject. A shadow rule records the request
-- when it would allow it and the request is allowed, and not when it would reject it: its own
-- state then evolves exactly as it would if the rule were enforced (only the other rules' states
-- differ: they record the requests it would have rejected), which is what a shadow run is for
-- (what would turning it on change?), and its memory stays bounded like an enforced rule's (a
-- shadow sliding-log holds at most `limit` entries instead of every request).
--
-- Returns one flat array, check after check: allowed (1 or 0), then per rule allowed, remaining,
-- reset_ms, retry_after_ms and, when the check asked for tokens, the token:
--   allowed = 1: the rule allows the request; then remaining and reset_ms are after it when it was
--                recorded, or without it when another rule rejected the request (nothing
--                recorded); retry_after_ms is 0
--   allowed = 0: the rule rejects it (remaining 0, retry_after_ms until it could allow it)
--   token:       what the rule recorded, for core/give_back.lua; '' when it recorded nothing
-- A flat array of integers is the cheapest reply to build and to read: no nested tables.

-- `modules` (algorithm name -> module) comes with the modules the build puts in front.

local function fail(what)
    return redis.error_reply('ERR decide: ' .. what)
end

local now, stamp = clock(ARGV[1])
local defs = tonumber(ARGV[2])
if defs == nil or defs < 0 or #ARGV < 2 + defs * 6 then
    return fail('ARGV[2] must count the rule definitions that follow')
end
local def = {}
for d = 1, defs do
    local base = 2 + (d - 1) * 6
    local module = modules[ARGV[base + 1]]
    if module == nil then
        return fail('unknown algorithm ' .. tostring(ARGV[base + 1]))
    end
    local limit = tonumber(ARGV[base + 2])
    def[d] = {
        module = module,
        limit = limit,
        window_ms = tonumber(ARGV[base + 3]),
        burst = tonumber(ARGV[base + 4]) or limit,
        cost = tonumber(ARGV[base + 5]) or 1,
        shadow = ARGV[base + 6] == '1',
    }
end

-- The whole batch is read before anything is written: a script that fails half-way keeps its
-- writes (Redis has no rollback), so a malformed batch must fail before its first check.
local first = 3 + defs * 6
do
    local at, keys = first, 0
    while at <= #ARGV do
        local n = tonumber(ARGV[at])
        if n == nil or n == 0 or n ~= math.floor(n) then
            return fail('a check must start with its number of rules')
        end
        n = math.abs(n)
        if at + n > #ARGV then
            return fail('a check names more rules than the batch has arguments')
        end
        for i = 1, n do
            if def[tonumber(ARGV[at + i])] == nil then
                return fail('no rule definition ' .. tostring(ARGV[at + i]))
            end
        end
        at = at + n + 1
        keys = keys + n
    end
    if keys ~= #KEYS then
        return fail('the checks name ' .. keys .. ' keys, the batch has ' .. #KEYS)
    end
end

local reply, r = {}, 0
local rules, plans = {}, {}

-- A check of n rules (keys from KEYS[key], definition numbers from ARGV[at + 1]): every rule is
-- checked, nothing written, then all of them commit or none. Its reply goes after reply[r].
local function decide_rules(key, at, n, tokens)
    local allowed = true
    for i = 1, n do
        local p = def[tonumber(ARGV[at + i])]
        rules[i] = p
        plans[i] = p.module.check(KEYS[key + i - 1], now, p.limit, p.window_ms, p.burst, p.cost,
                                  stamp)
        if not plans[i].allowed and not p.shadow then
            allowed = false
        end
    end
    r = r + 1
    reply[r] = allowed and 1 or 0
    for i = 1, n do
        local p, plan = rules[i], plans[i]
        local token = ''
        if not plan.allowed then
            reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = 0, 0, plan.reset_ms,
                                                                     plan.retry_ms
        elseif allowed then
            token = p.module.commit(KEYS[key + i - 1], plan)
            reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = 1, plan.remaining,
                                                                     plan.reset_ms, 0
        else
            local q = p.module.quota(KEYS[key + i - 1], now, p.limit, p.window_ms, p.burst)
            reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4] = 1, q[1], q[2], 0
        end
        r = r + 4
        if tokens then
            r = r + 1
            reply[r] = token
        end
    end
end

-- A check of one rule whose module decides in one call (check and commit, no plan table): the
-- common case. A shadow rule alone never rejects the request and records it when it would allow
-- it, as decide_rules() does.
local function decide_one(p, key, tokens)
    local allowed, remaining, reset_ms, retry_ms, token =
        p.module.decide(KEYS[key], now, p.limit, p.window_ms, p.burst, p.cost, stamp)
    reply[r + 1], reply[r + 2], reply[r + 3], reply[r + 4], reply[r + 5] =
        (p.shadow or allowed == 1) and 1 or 0, allowed, remaining, reset_ms, retry_ms
    r = r + 5
    if tokens then
        r = r + 1
        reply[r] = token
    end
end

local at, key = first, 1
while at <= #ARGV do
    local n = tonumber(ARGV[at])
    local tokens = n < 0
    if tokens then
        n = -n
    end
    local one = n == 1 and def[tonumber(ARGV[at + 1])]
    if one and one.module.decide then
        decide_one(one, key, tokens)
    else
        decide_rules(key, at, n, tokens)
    end
    at = at + n + 1
    key = key + n
end
return reply
