-- Record a newer directory version and tell every worker. Older versions are ignored.
-- KEYS[1]: the version key   ARGV[1]: the version   ARGV[2]: the pub/sub channel
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return 1
end
return 0
