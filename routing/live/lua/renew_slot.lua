-- Renew a lease that still holds a slot (a call that goes on); an expired or released lease stays gone.
-- KEYS[1]: the service's slot set   ARGV[1]: lease id   ARGV[2]: lease time-to-live in ms from now
-- Returns 1 when renewed, 0 when the lease no longer holds a slot.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) <= now then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1
