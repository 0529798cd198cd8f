-- Take a person's turn and read their waiting events in one step.
-- KEYS[1]: the person's turn   KEYS[2]: the person's inbox (member = sealed event, score = its timestamp)
-- ARGV[1]: the taker's token   ARGV[2]: how long the turn is held (ms)
-- Returns the waiting events in timestamp order (possibly none), or false when another worker has the turn.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  return false
end
return redis.call('ZRANGE', KEYS[2], 0, -1)
