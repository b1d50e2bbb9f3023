//! The Lua scripts. Redis runs a script alone (no other command interleaves), but does not roll back a
//! script that fails half way; so every script checks everything that could fail (key types) before its
//! first write, and the writes themselves cannot fail for a reason the check did not rule out.

/// One save: the newest row of every series (unless a newer one is held), the rows of recent history, the
/// series index, and the live feed. A row is one MessagePack value (crate::rowpack) whose time sits at a
/// fixed position, so comparing a held row with a new one reads 8 bytes and decodes nothing. The newest rows
/// of a class are one hash (series → row), so the script writes them with one `HSET` per 1,000 series; the
/// only command per series is the history `XADD`.
///
/// A series expires `ttl` after its newest row was last written (the index score, server time): the script
/// first deletes the series that expired (their rows, history and legacy keys), so what follows sees only
/// live series. Reads skip expired series the same way until a save deletes them.
///
/// KEYS: index, feed, newest-rows hash. A series' own keys (its history stream, and the hash the layout
/// before packed rows used for its newest row) are named in the script from the class's key base: passing
/// two keys per series made the client name, send and the server parse 10,000 more arguments for a
/// 5,000-series save. They share the class's hash tag, so on a cluster they sit in the declared keys' slot.
/// ARGV: series count, ttl ms (0: none), history cap (0: none), feed window ms (0: no feed), feed payload,
/// the time value's position in a row, the bytes before it from the 4th (time key + `0xd3`), the time
/// column's name, the class's key base; then per series: member, row count r, then r × (stream id, row)
/// when history is kept, else its newest row.
/// Returns { newest rows written, stale rows ignored, history rows added }.
pub const SAVE: &str = r#"
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local hcap = tonumber(ARGV[3])
local fwindow = tonumber(ARGV[4])
local at = tonumber(ARGV[6])
local head = ARGV[7]
local base = ARGV[9]
local index, latest = KEYS[1], KEYS[3]
local chunk = 1000 -- unpack is limited to a few thousand values

local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
-- Arguments handed to commands as strings: Redis formats a Lua number anew on every call.
local now_text = string.format('%d', now_ms)
local hcap_text = ARGV[3]

-- Expired series go first: deleting what no read can see any more changes nothing a caller can observe.
if ttl > 0 then
  local gone = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. (now_ms - ttl))
  for from = 1, #gone, chunk do
    local fields, keys = {}, {}
    for j = from, math.min(#gone, from + chunk - 1) do
      fields[#fields + 1] = gone[j]
      keys[#keys + 1] = base .. ':h:' .. gone[j]
      keys[#keys + 1] = base .. ':l:' .. gone[j]
    end
    redis.call('HDEL', latest, unpack(fields))
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', index, unpack(fields))
  end
end

-- A row quantdal wrote under this class's time column: a map 16 whose time key and int 64 sit at `at`.
local function ours(v)
  return #v >= at + 7 and string.byte(v, 1) == 0xde and string.find(v, head, 4, true) == 4
end
-- The row time as (high signed 32 bits, low unsigned 32 bits): exact, where one Lua number is not.
local function time_of(v)
  local hi, lo = struct.unpack('>i4I4', v, at)
  return hi, lo
end
local function refuse(key, what)
  return redis.error_reply('WRONGTYPE key ' .. key .. ' ' .. what .. ', not a row quantdal wrote')
end

-- Pass 1: parse, read each series' held row, refuse keys quantdal did not write. No writes yet. Per series
-- state lives in parallel arrays (a table per series costs more than the rest of the loop).
local member, newest, rows_at, count, cur, legacy = {}, {}, {}, {}, {}, {}
local pos = 10
for i = 1, n do
  member[i] = ARGV[pos]
  local r = tonumber(ARGV[pos + 1])
  if hcap > 0 then
    rows_at[i], count[i] = pos + 2, r
    newest[i] = ARGV[pos + 1 + 2 * r]
    pos = pos + 2 + 2 * r
  else
    count[i] = 0
    newest[i] = ARGV[pos + 2]
    pos = pos + 3
  end
end
for from = 1, n, chunk do
  local held = redis.call('HMGET', latest, unpack(member, from, math.min(n, from + chunk - 1)))
  for j = 1, #held do cur[from + j - 1] = held[j] end
end
local t = redis.call('TYPE', latest)['ok']
if t ~= 'none' and t ~= 'hash' then return refuse(latest, 'is a ' .. t) end
for i = 1, n do
  local c = cur[i]
  if c then
    if not ours(c) then return refuse(latest .. ' field ' .. member[i], 'holds another value') end
  else
    local lkey = base .. ':l:' .. member[i]
    local l = redis.call('TYPE', lkey)['ok']
    if l == 'hash' then
      -- The layout before rows were packed: one field per column. Replaced by this save if not newer.
      legacy[i] = redis.call('HGET', lkey, ARGV[8]) or '0'
    elseif l ~= 'none' then
      return refuse(lkey, 'is a ' .. l)
    end
    if hcap > 0 then
      local hkey = base .. ':h:' .. member[i]
      local h = redis.call('TYPE', hkey)['ok']
      if h ~= 'none' and h ~= 'stream' then return refuse(hkey, 'is a ' .. h) end
    end
  end
end

local function wins(i)
  local c = cur[i]
  if c then
    local nh, nl = struct.unpack('>i4I4', newest[i], at)
    local ch, cl = struct.unpack('>i4I4', c, at)
    return nh > ch or (nh == ch and nl >= cl)
  end
  if legacy[i] then
    -- Exact for ms and us classes (below 2^53); ns rows compare to within 2^-52 of their value.
    local nh, nl = time_of(newest[i])
    return nh * 4294967296 + nl >= (tonumber(legacy[i]) or 0)
  end
  return true
end

-- Pass 2: write. Lists are filled through counters: `#t` is a search on every append.
local written, stale, added = 0, 0, 0
local rows, scores, replaced, nreplaced = {}, {}, {}, 0
local xadd = redis.pcall
for i = 1, n do
  local m = member[i]
  if wins(i) then
    written = written + 1
    rows[2 * written - 1], rows[2 * written] = m, newest[i]
    scores[2 * written - 1], scores[2 * written] = now_text, m
    if legacy[i] then
      nreplaced = nreplaced + 1
      replaced[nreplaced] = base .. ':l:' .. m
    end
  else
    stale = stale + 1
  end
  local r = count[i]
  if r > 0 then
    local hkey, first = base .. ':h:' .. m, rows_at[i]
    for j = 0, r - 1 do
      -- An id at or below the stream's last one is a row older than the history already holds.
      local res = xadd('XADD', hkey, 'MAXLEN', hcap_text, ARGV[first + 2 * j], 'row', ARGV[first + 2 * j + 1])
      if type(res) ~= 'table' then added = added + 1 end
    end
  end
end
local function in_chunks(list, command, key)
  for from = 1, #list, 2 * chunk do
    redis.call(command, key, unpack(list, from, math.min(from + 2 * chunk - 1, #list)))
  end
end
in_chunks(rows, 'HSET', latest)
in_chunks(scores, 'ZADD', index)
for from = 1, #replaced, chunk do
  redis.call('DEL', unpack(replaced, from, math.min(#replaced, from + chunk - 1)))
end
if fwindow > 0 then
  redis.call('XADD', KEYS[2], 'MINID', '~', now_ms - fwindow, '*', 'ipc', ARGV[5])
end
return { written, stale, added }
"#;
