-- Count unexpired leases on each service, and find a waiting call's place in its queue, in one round trip.
-- KEYS: the services' slot sets; when ARGV[1] names a call, its queue comes last.
-- Returns one count per slot set, in order; then, for a call, its 0-based place in the queue (-1: not in it).
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
end
return answer
