// The Lua scripts ClusterNode runs in Redis: each is one atomic step, so two nodes admitting the same participant
// id (or the last seat of a room) at once cannot both win.

/**
 * Claims a participant id for a node and checks the room's cluster-wide limit.
 * KEYS: claim key, room hash. ARGV: node id, claim TTL ms, max participants per room, participant id,
 * node key prefix, placeholder entry (JSON). Entries of nodes whose registry key has expired are removed first.
 * Returns "ok", "conflict" (another live node holds the id) or "room-full".
 */
export const CLAIM_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[5] .. holder) == 1 then return 'conflict' end
local entries = redis.call('HGETALL', KEYS[2])
local count = 0
for i = 1, #entries, 2 do
  local node = cjson.decode(entries[i + 1]).node
  if redis.call('EXISTS', ARGV[5] .. node) == 0 then redis.call('HDEL', KEYS[2], entries[i])
  elseif entries[i] ~= ARGV[4] then count = count + 1 end
end
if count >= tonumber(ARGV[3]) then return 'room-full' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 then redis.call('HSET', KEYS[2], ARGV[4], ARGV[6]) end
return 'ok'
`;

/**
 * Releases a participant: its claim when this node holds it, its room entry when it is still this stay's.
 * KEYS: claim key, room hash. ARGV: node id, participant id, epoch.
 */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local entry = redis.call('HGET', KEYS[2], ARGV[2])
if entry then
  local decoded = cjson.decode(entry)
  if decoded.node == ARGV[1] and (decoded.epoch == ARGV[3] or decoded.epoch == '') then redis.call('HDEL', KEYS[2], ARGV[2]) end
end
return 1
`;
