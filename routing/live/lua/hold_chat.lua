-- Put a chat with one counsellor on one window at once (a supervisor's take-over, a chat handed to a
-- named colleague): its slot on the window and its place in the counsellor's chats, or neither.
-- KEYS[1]: the counsellor's chats   KEYS[2]: the window's SNS slot set   KEYS[3]: the window's queue
-- ARGV[1]: chat id   ARGV[2]: the counsellor's cap (0: no cap)   ARGV[3]: lease ttl ms   ARGV[4]: lease
--          ARGV[5]: the window's capacity
-- Returns 1 when held; -1 when the counsellor is at their cap; -2 when the window is full.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local cap = tonumber(ARGV[2])
if cap > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= cap then
  return -1
end
if not redis.call('ZSCORE', KEYS[2], ARGV[4]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return -2
end
local expiry = now + tonumber(ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], expiry, ARGV[4])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
return 1
