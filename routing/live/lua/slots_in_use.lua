-- Count unexpired leases on each service, and find a contact's place in its queue, in one round trip.
-- KEYS: the services' slot sets; when ARGV[1] names a contact, its queue comes last.
-- Returns one count per slot set, in order; then, for a contact, its 0-based place in the queue
-- (-1: not in it) and how many wait in that queue.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local services = #KEYS
if ARGV[1] then
  services = services - 1
end
local answer = {}
for i = 1, services do
  answer[i] = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf')
end
if ARGV[1] then
  answer[services + 1] = redis.call('ZRANK', KEYS[#KEYS], ARGV[1]) or -1
  answer[services + 2] = redis.call('ZCARD', KEYS[#KEYS])
end
return answer
