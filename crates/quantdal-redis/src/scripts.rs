//! The Lua scripts. Redis runs a script alone (no other command interleaves), but does not roll back a
//! script that fails half way; so every script checks everything that could fail (key types) before its
//! first write, and the writes themselves cannot fail for a reason the check did not rule out.

/// One save: the newest row of every series (unless the key already holds a newer one), the rows of
/// recent history, the series index, and the live feed.
///
/// KEYS: index, feed, then per series its latest hash and history stream.
/// ARGV: series count, ttl ms (0: none), history cap (0: none), feed window ms (0: no feed), feed payload,
/// time field; then per series: member, newest ticks, k, k field/value pairs, n, n null fields,
/// h, then per history row: stream id, m, m field/value pairs.
/// Returns { latest rows written, stale rows ignored, history rows added }.
pub const SAVE: &str = r#"
local function cmp(a, b)
  if a == b then return 0 end
  local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if na ~= nb then return na and -1 or 1 end
  local r
  if #a ~= #b then r = (#a < #b) and -1 or 1 else r = (a < b) and -1 or 1 end
  if na then r = -r end
  return r
end

local function slice(from, count)
  local t = {}
  for j = 1, count do t[j] = ARGV[from + j - 1] end
  return t
end

local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local hcap = tonumber(ARGV[3])
local fwindow = tonumber(ARGV[4])
local tfield = ARGV[6]

-- Pass 1: parse, read each series' newest time, refuse keys of another type. No writes yet.
local plan = {}
local pos = 7
for i = 1, n do
  local lkey, hkey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local cur = redis.pcall('HGET', lkey, tfield)
  if type(cur) == 'table' and cur.err then
    return redis.error_reply('WRONGTYPE key ' .. lkey .. ' is not a hash written by quantdal')
  end
  if hcap > 0 then
    local len = redis.pcall('XLEN', hkey)
    if type(len) == 'table' and len.err then
      return redis.error_reply('WRONGTYPE key ' .. hkey .. ' is not a stream written by quantdal')
    end
  end
  local p = { lkey = lkey, hkey = hkey, member = ARGV[pos], newest = ARGV[pos + 1], cur = cur }
  local k = tonumber(ARGV[pos + 2])
  p.pairs_at, p.pairs_n = pos + 3, 2 * k
  pos = pos + 3 + 2 * k
  local nulls = tonumber(ARGV[pos])
  p.nulls_at, p.nulls_n = pos + 1, nulls
  pos = pos + 1 + nulls
  local h = tonumber(ARGV[pos])
  pos = pos + 1
  p.history = {}
  for r = 1, h do
    local m = tonumber(ARGV[pos + 1])
    p.history[r] = { id = ARGV[pos], at = pos + 2, n = 2 * m }
    pos = pos + 2 + 2 * m
  end
  plan[i] = p
end

-- Pass 2: write.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local written, stale, added = 0, 0, 0
local index = {}
for i = 1, n do
  local p = plan[i]
  if (not p.cur) or cmp(p.newest, p.cur) >= 0 then
    redis.call('HSET', p.lkey, unpack(slice(p.pairs_at, p.pairs_n)))
    if p.cur and p.nulls_n > 0 then
      redis.call('HDEL', p.lkey, unpack(slice(p.nulls_at, p.nulls_n)))
    end
    if ttl > 0 then redis.call('PEXPIRE', p.lkey, ttl) end
    written = written + 1
    index[#index + 1] = now_ms
    index[#index + 1] = p.member
  else
    stale = stale + 1
  end
  if hcap > 0 then
    for _, row in ipairs(p.history) do
      -- An id at or below the stream's last one is a row older than the history already holds.
      local r = redis.pcall('XADD', p.hkey, 'MAXLEN', hcap, row.id, unpack(slice(row.at, row.n)))
      if type(r) ~= 'table' then added = added + 1 end
    end
    if ttl > 0 and #p.history > 0 then redis.call('PEXPIRE', p.hkey, ttl) end
  end
end
-- unpack is limited to a few thousand values: index in chunks.
local chunk = 2000
for from = 1, #index, chunk do
  local t = {}
  for j = from, math.min(from + chunk - 1, #index) do t[#t + 1] = index[j] end
  redis.call('ZADD', KEYS[1], unpack(t))
end
if ttl > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now_ms - ttl))
end
if fwindow > 0 then
  redis.call('XADD', KEYS[2], 'MINID', '~', now_ms - fwindow, '*', 'ipc', ARGV[5])
end
return { written, stale, added }
"#;
