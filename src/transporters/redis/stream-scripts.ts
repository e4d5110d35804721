import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

// The Lua scripts of durable events. Each step that touches more than one key, or must check
// before it writes, runs as one script: Redis runs a script atomically, so a crash of the node
// (or of the connection) between two of its commands cannot lose or double a message. Keys that
// a script writes are passed in KEYS; the redis transporter supports one server (no Cluster).

/** Whether `consumer` of `group` holds entry `id` of stream `key`: owners settle, others not. */
const owns = `
local function owns(key, group, id, consumer)
  local p = redis.call('XPENDING', key, group, id, id, 1)
  return p[1] ~= nil and p[1][2] == consumer
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** A Lua script run by SHA, loaded again when the server does not know it (after a restart). */
export class Script {
  readonly #sha: string;

  constructor(readonly source: string) {
    this.#sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script on `redis`; the reply has Buffers for strings. */
  async run(redis: Redis, keys: readonly string[], args: readonly (string | Buffer | number)[]) {
    const tail = [keys.length, ...keys, ...args];
    try {
      return await redis.callBuffer("EVALSHA", this.#sha, ...tail);
    } catch (err) {
      if (!String((err as Error).message).startsWith("NOSCRIPT")) throw err;
      return await redis.callBuffer("EVAL", this.source, ...tail);
    }
  }
}

/**
 * ack of an entry of a group's retry stream: acknowledged and deleted at once, since no other
 * group reads that stream. KEYS: retries. ARGV: group, entry ID.
 */
export const ackRetry = new Script(`
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if n == 1 then redis.call('XDEL', KEYS[1], ARGV[2]) end
return n
`);

/**
 * retry(delay): a copy with the next attempt number waits in the group's sorted set until due,
 * and the delivery is acknowledged, in one step. Only the member holding the entry does it (a
 * member that lost it to a claim leaves it to the new holder). Returns 1, or 0 when not held.
 * KEYS: source stream, delayed set. ARGV: group, consumer, entry ID, delay ms, message ID,
 * next attempt, data, 1 when the source is a retry stream (delete the entry too).
 */
export const retryLater = new Script(`${owns}
if not owns(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then return 0 end
local copy = cmsgpack.pack({ARGV[5], ARGV[6], ARGV[7], KEYS[1] .. '/' .. ARGV[3]})
redis.call('ZADD', KEYS[2], now() + tonumber(ARGV[4]), copy)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
if ARGV[8] == '1' then redis.call('XDEL', KEYS[1], ARGV[3]) end
return 1
`);

/**
 * Moves up to ARGV[1] due retries of a group to its retry stream, where a member reads them.
 * Returns { moved, ms until the next one is due or -1 }. KEYS: delayed set, retries.
 */
export const moveDue = new Script(`${owns}
local t = now()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local c = cmsgpack.unpack(m)
  redis.call('XADD', KEYS[2], '*', 'id', c[1], 'data', c[3], 'attempt', c[2])
  redis.call('ZREM', KEYS[1], m)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] == nil then return {#due, -1} end
return {#due, math.max(0, tonumber(nxt[2]) - t)}
`);

/**
 * deadLetter(info): the dead letter is added and the delivery acknowledged in one step, by the
 * member holding it. Returns 1, or 0 when not held. KEYS: source stream, dead letters.
 * ARGV: group, consumer, entry ID, 1 when the source is a retry stream, then the dead letter's
 * field/value pairs.
 */
export const deadLetter = new Script(`${owns}
if not owns(KEYS[1], ARGV[1], ARGV[3], ARGV[2]) then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 5))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '1' then redis.call('XDEL', KEYS[1], ARGV[3]) end
return 1
`);

/**
 * Puts dead letter ARGV[1] on its group's retry stream as attempt 1 (same message ID) and removes
 * it from the dead letters. Returns 0 when it is gone (replayed meanwhile). KEYS: dead letters,
 * retries of its group.
 */
export const replay = new Script(`
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return 0 end
local f, v = e[1][2], {}
for i = 1, #f, 2 do v[f[i]] = f[i + 1] end
redis.call('XADD', KEYS[2], '*', 'id', v['id'], 'data', v['data'], 'attempt', '1')
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
`);

/**
 * Claims up to ARGV[5] entries idle for ARGV[3] ms or more (their holder is presumed dead)
 * from cursor ARGV[4], with each one's delivery count, which the claim has raised by one.
 * Returns { next cursor, { { entry ID, fields, deliveries }, ... } }. KEYS: stream.
 * ARGV: group, consumer, min idle ms, cursor, count.
 */
export const claim = new Script(`
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    out[#out + 1] = {e[1], e[2], p[1] and p[1][4] or 1}
  end
end
return {r[1], out}
`);

/**
 * Keeps the entries a member is still handling from looking abandoned: resets their idle time
 * (XCLAIM JUSTID does not count a delivery), for those it still holds. KEYS: stream.
 * ARGV: group, consumer, entry IDs...
 */
export const refresh = new Script(`${owns}
local mine = {}
for i = 3, #ARGV do
  if owns(KEYS[1], ARGV[1], ARGV[i], ARGV[2]) then mine[#mine + 1] = ARGV[i] end
end
if #mine > 0 then redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine), 'JUSTID') end
return #mine
`);

/**
 * Housekeeping of a group member: trims the event's stream to the entries some group still
 * needs (below every group's oldest pending entry and last delivered one), and forgets members
 * of its group that hold nothing and were not seen for ARGV[2] ms (or, with ARGV[3], only
 * ARGV[3] itself, if it holds nothing: a graceful leave). KEYS: stream, retries.
 * ARGV: group, stale ms, consumer or ''. Returns the number of entries trimmed.
 */
export const tidy = new Script(`
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local function map(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
local trimmed = 0
if ARGV[3] == '' then
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
  if type(groups) == 'table' and not groups.err then
    local floor
    for _, g in ipairs(groups) do
      local info = map(g)
      local keep = info['last-delivered-id']
      if info['pending'] > 0 then keep = redis.call('XPENDING', KEYS[1], info['name'])[2] end
      if floor == nil or before(keep, floor) then floor = keep end
    end
    if floor then trimmed = redis.call('XTRIM', KEYS[1], 'MINID', floor) end
  end
end
for _, key in ipairs(KEYS) do
  local members = redis.pcall('XINFO', 'CONSUMERS', key, ARGV[1])
  if type(members) == 'table' and not members.err then
    for _, c in ipairs(members) do
      local info = map(c)
      local gone = ARGV[3] == '' and info['idle'] > tonumber(ARGV[2]) or info['name'] == ARGV[3]
      if gone and info['pending'] == 0 then
        redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], info['name'])
      end
    end
  end
end
return trimmed
`);
