-- Give a counsellor the next chat of their windows in one step: the best-placed chat at the head of
-- any of their windows' queues whose window has a free line, within the counsellor's own cap.
-- KEYS[1]: the counsellor's chats (member = chat id, score = expiry in ms, server time);
--          then, per window, its queue (member = chat id, score = priority) and its SNS slot set.
-- ARGV[1]: the counsellor's cap   ARGV[2]: lease time-to-live in ms   ARGV[3]: the chat lease prefix;
--          then one capacity per window, in KEYS order.
-- Returns {1, chat id, window index (1-based)} when taken; {0} when no chat waits; {-1} when the
-- counsellor is at their cap; {-2} when chats wait but every one of those windows is full.
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return {-1}
end
local best, best_score, best_window = nil, nil, nil
local waiting = false
for i = 1, (#KEYS - 1) / 2 do
  local queue, slots = KEYS[2 * i], KEYS[2 * i + 1]
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if head[1] then
    waiting = true
    redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
    local score = tonumber(head[2])
    if redis.call('ZCARD', slots) < tonumber(ARGV[3 + i]) and (best_score == nil or score < best_score) then
      best, best_score, best_window = head[1], score, i
    end
  end
end
if best == nil then
  if waiting then
    return {-2}
  end
  return {0}
end
local expiry = now + tonumber(ARGV[2])
redis.call('ZREM', KEYS[2 * best_window], best)
redis.call('ZADD', KEYS[2 * best_window + 1], expiry, ARGV[3] .. best)
redis.call('ZADD', KEYS[1], expiry, best)
return {1, best, best_window}
