-- Drop the events a worker processed, give up the person's turn, and say whether more came meanwhile.
-- KEYS[1]: the person's turn   KEYS[2]: the person's inbox   KEYS[3]: the people with events waiting
-- ARGV[1]: the holder's token   ARGV[2]: the person   ARGV[3...]: the events processed
-- Returns how many events wait in the inbox now (the caller takes the turn again when any do).
for i = 3, #ARGV do
  redis.call('ZREM', KEYS[2], ARGV[i])
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
local left = redis.call('ZCARD', KEYS[2])
if left == 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return left
