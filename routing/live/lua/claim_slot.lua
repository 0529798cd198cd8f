-- Claim (or renew) a slot on a service for one lease, never exceeding capacity.
-- KEYS[1]: the service's slot set (member = lease id, score = expiry in ms, server time)
-- ARGV[1]: lease id   ARGV[2]: capacity   ARGV[3]: lease time-to-live in ms
-- Returns 1 when the lease holds a slot, 0 when the service is full.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expiry = now + tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[1])
  return 1
end
return 0
