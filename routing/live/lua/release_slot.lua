-- Release one lease's slot on a service. Returns 1 if it was held, 0 if already free.
-- KEYS[1]: the service's slot set   ARGV[1]: lease id
return redis.call('ZREM', KEYS[1], ARGV[1])
