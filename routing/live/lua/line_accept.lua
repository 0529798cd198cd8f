-- Accept one LINE webhook event, once: remember its id, and put it in its person's inbox.
-- KEYS[1]: the event's id marker   KEYS[2]: the person's inbox (member = sealed event, score = its timestamp)
-- KEYS[3]: the people with events waiting (member = person, score = when their oldest came, ms)
-- ARGV[1]: the sealed event   ARGV[2]: its timestamp (ms)   ARGV[3]: the person   ARGV[4]: now (ms)
-- ARGV[5]: how long an event id is remembered (s)
-- Returns 1 when accepted, 0 when the event was seen before (a redelivery).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[5])) then
  return 0
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]), ARGV[1])
redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[3])
return 1
