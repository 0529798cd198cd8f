-- Tell organisations' dashboards that their lists changed. Each organisation's count goes up by one and its
-- event is published on its channel numbered with it, in one step: a page that sees a number skipped missed one.
-- KEYS[i]: organisation i's count   ARGV[2i-1]: its channel   ARGV[2i]: its event, a JSON object with at least one field
for i, key in ipairs(KEYS) do
  local seq = redis.call('INCR', key)
  redis.call('PUBLISH', ARGV[2 * i - 1], '{"seq": ' .. seq .. ', ' .. string.sub(ARGV[2 * i], 2))
end
return #KEYS
