#pragma once
// The one Lua script every sync runs, once per shared breaker (EVALSHA,
// pipelined): fleet/server_rule.hpp's steps, step for step, on the hash
// `<prefix>:{<name>}` with the time of Redis's TIME. Times are in
// microseconds here (Lua numbers are doubles: exact to 2^53).
//
// Fields of the hash:
//   st state (0 closed, 1 open, 3 isolated, 4 disabled)   g  generation
//   u  open-until              l  backoff level             w  1: the spell followed a failed probe
//   o  origin store id         k  probe successes this spell
//   tf ts  total failures / successes of every process
//   F:<i> S:<i>  failures / successes (failure_rate only) of bucket i (server time / bucket)
//   B:<store> Bt:<store>  the store's highest batch id counted, and when
//   P:<store> Pe:<store>  the store's probe slots, and when their lease ends
//
// KEYS[1]: the hash. ARGV (see redis/backend.hpp, which builds them):
//   1 store id  2 channel  3 name  4 rule kind  5 max_failures
//   6 failure_rate  7 minimum_calls  8 window  9 bucket  10 open initial
//   11 multiplier  12 open max  13 half_open_max_calls  14 success_threshold
//   15 probe lease  16 idle ttl  17 local state  18 local open left
//   19 probes held  20 number of batches, then 8 per batch: id, age,
//   failures, successes, probe successes, probe generation, change, change
//   generation.
// Reply: {state (half_open when due), generation, open left, grew,
//   by requester, probes granted, acknowledged, total failures, total
//   successes, window failures, window successes, server now}; an error
//   reply "CORRUPT ..." for a field that is not a number.

namespace circuit::redis::detail {

inline constexpr const char* sync_script = R"lua(
local key, sid, channel, name = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local kind, max_failures, rate, min_calls = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local window, bucket = tonumber(ARGV[8]), tonumber(ARGV[9])
local open_initial, multiplier, open_max = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local hmax, sthreshold, lease, ttl = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])
local local_state, local_left, hold, nb = tonumber(ARGV[17]), tonumber(ARGV[18]), tonumber(ARGV[19]), tonumber(ARGV[20])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local flat = redis.call('HGETALL', key)
local h = {}
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end

local function fmt(x) return string.format('%.0f', x) end
local bad = nil
local function num(v, field)
  local n = tonumber(v)
  if n == nil or n ~= n then bad = field; return 0 end
  return n
end

local st, gen, until_, level, grew, origin, pok, tf, ts
local fb, sb, marks, mark_at, slots, slot_end = {}, {}, {}, {}, {}, {}
if h['g'] == nil then
  gen, origin, level, grew, pok, tf, ts, until_ = 1, sid, 0, 0, 0, 0, 0, 0
  if local_state == 1 or local_state == 2 then
    st = 1
    until_ = now + math.max(0, local_left)
  else
    st = local_state
  end
else
  st, gen, until_ = num(h['st'], 'st'), num(h['g'], 'g'), num(h['u'], 'u')
  level, grew, pok = num(h['l'], 'l'), num(h['w'], 'w'), num(h['k'], 'k')
  tf, ts, origin = num(h['tf'], 'tf'), num(h['ts'], 'ts'), h['o'] or ''
  if st ~= 0 and st ~= 1 and st ~= 3 and st ~= 4 then bad = 'st' end
  for f, v in pairs(h) do
    local p, rest = string.match(f, '^(%a+):(.*)$')
    if p == 'F' then fb[num(rest, f)] = num(v, f)
    elseif p == 'S' then sb[num(rest, f)] = num(v, f)
    elseif p == 'B' then marks[rest] = num(v, f)
    elseif p == 'Bt' then mark_at[rest] = num(v, f)
    elseif p == 'P' then slots[rest] = num(v, f)
    elseif p == 'Pe' then slot_end[rest] = num(v, f)
    end
  end
end
if bad ~= nil then return redis.error_reply('CORRUPT field ' .. bad .. ' of ' .. key) end

local start_gen = gen
local function effective()
  if st == 1 and now >= until_ then return 2 end
  return st
end
local function open_for()
  local d = open_initial * (multiplier ^ level)
  if d >= open_max then return open_max end
  if d < 1 then return 1 end
  return math.floor(d)
end
local function transition(to, by, g)
  gen = gen + 1
  st, origin, pok, grew = to, by, 0, g
  slots, slot_end = {}, {}
  if to == 1 then until_ = now + open_for() end
  if to == 0 then fb, sb, level = {}, {}, 0 end
end
local function apply_change(c, made_in)
  local e = effective()
  if c == 1 then
    if st == 0 then transition(1, sid, 0) end
  elseif c == 2 then
    if e == 2 and made_in == gen then
      level = math.min(level + 1, 1000)
      transition(1, sid, 1)
    end
  elseif c == 3 then
    if st == 3 then return end
    if e == 1 then until_ = now + open_for(); return end
    transition(1, sid, 0)
  elseif c == 4 then
    if st ~= 3 then transition(3, sid, 0) end
  elseif c == 5 then
    if st ~= 4 then transition(4, sid, 0) end
  elseif c == 6 then
    transition(0, sid, 0)
  end
end

local last = marks[sid] or 0
local new_failures = false
for i = 0, nb - 1 do
  local base = 21 + i * 8
  local id, age = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local f, s = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local ok, okgen = tonumber(ARGV[base + 4]), tonumber(ARGV[base + 5])
  local c, cgen = tonumber(ARGV[base + 6]), tonumber(ARGV[base + 7])
  if id > last then
    last = id
    tf, ts = tf + f, ts + s
    apply_change(c, cgen)
    if kind ~= 0 and st == 0 and age >= 0 and age < window and (f ~= 0 or (kind == 2 and s ~= 0)) then
      local b = math.floor((now - age) / bucket)
      if f ~= 0 then fb[b] = (fb[b] or 0) + f end
      if kind == 2 and s ~= 0 then sb[b] = (sb[b] or 0) + s end
      if f ~= 0 then new_failures = true end
    end
    if ok ~= 0 and effective() == 2 and okgen == gen then
      pok = pok + ok
      if pok >= sthreshold then transition(0, sid, 0) end
    end
  end
end
marks[sid], mark_at[sid] = last, now

-- Buckets out of the window, and marks of stores gone for an hour.
local function live(b) return now - b * bucket < window end
for b, _ in pairs(fb) do if kind == 0 or not live(b) then fb[b] = nil end end
for b, _ in pairs(sb) do if kind == 0 or not live(b) then sb[b] = nil end end
local keep = math.max(window, lease) + 3600000000
for s, at in pairs(mark_at) do if now - at > keep then mark_at[s], marks[s] = nil, nil end end
local function window_counts()
  local wf, ws = 0, 0
  for b, n in pairs(fb) do if live(b) then wf = wf + n end end
  for b, n in pairs(sb) do if live(b) then ws = ws + n end end
  return wf, ws
end
if new_failures and st == 0 then
  local wf, ws = window_counts()
  local met = false
  if kind == 1 then met = wf > max_failures
  elseif kind == 2 then met = (wf + ws) >= min_calls and wf / (wf + ws) >= rate end
  if met then transition(1, '', 0) end
end

-- Probe reservations, half_open only.
if effective() ~= 2 then
  slots, slot_end = {}, {}
else
  for s, e in pairs(slot_end) do if now >= e then slots[s], slot_end[s] = nil, nil end end
  local others = 0
  for s, n in pairs(slots) do if s ~= sid then others = others + n end end
  local room = math.max(0, hmax - others)
  local want = math.min(hold, room)
  local had = slots[sid] or 0
  if want == 0 then
    slots[sid], slot_end[sid] = nil, nil
  elseif want > had then
    slots[sid], slot_end[sid] = want, now + lease
  else
    slots[sid] = want
  end
end

-- Written back: only the fields whose text changed, and the ones gone.
local nf = {st = fmt(st), g = fmt(gen), u = fmt(until_), l = fmt(level), w = fmt(grew), o = origin, k = fmt(pok),
  tf = fmt(tf), ts = fmt(ts)}
for b, n in pairs(fb) do nf['F:' .. fmt(b)] = fmt(n) end
for b, n in pairs(sb) do nf['S:' .. fmt(b)] = fmt(n) end
for s, n in pairs(marks) do nf['B:' .. s] = fmt(n) end
for s, n in pairs(mark_at) do nf['Bt:' .. s] = fmt(n) end
for s, n in pairs(slots) do nf['P:' .. s] = fmt(n) end
for s, n in pairs(slot_end) do nf['Pe:' .. s] = fmt(n) end
local gone, set = {}, {}
for f, _ in pairs(h) do if nf[f] == nil then gone[#gone + 1] = f end end
for f, v in pairs(nf) do
  if h[f] ~= v then
    set[#set + 1] = f
    set[#set + 1] = v
  end
end
for i = 1, #gone, 1000 do redis.call('HDEL', key, unpack(gone, i, math.min(i + 999, #gone))) end
for i = 1, #set, 1000 do redis.call('HSET', key, unpack(set, i, math.min(i + 999, #set))) end

local left = 0
if st == 1 and now < until_ then left = until_ - now end
if st == 3 or st == 4 then
  redis.call('PERSIST', key)
else
  redis.call('PEXPIRE', key, fmt(math.ceil((left + ttl) / 1000)))
end
if gen ~= start_gen then redis.call('PUBLISH', channel, name) end

local wf, ws = window_counts()
local by_me = 0
if origin == sid then by_me = 1 end
return {effective(), gen, left, grew, by_me, slots[sid] or 0, last, tf, ts, wf, ws, now}
)lua";

}  // namespace circuit::redis::detail
