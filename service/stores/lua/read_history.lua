-- ARGV: after (a sequence number), count. Up to `count` entries with a later sequence number,
-- oldest first: a range read from an id, O(count) whatever the history's length.
return {'ok', redis.call('XRANGE', HISTORY, string.format('%d-0', tonumber(ARGV[4]) + 1), '+', 'COUNT',
                         tonumber(ARGV[5]))}
