-- wrk script of the benchmark: POST exactly N task bodies, count the answers by status, and
-- print one JSON summary line. Run with one thread:
--   wrk -t1 -c64 -d10m --timeout 30s -s bench/post.lua http://127.0.0.1:8080/tasks -- N 'BODY'
-- wrk's main thread sleeps for the whole -d, whatever its threads do: the line
-- "taskq-wrk-answered" tells bench/wrk.py to end it early with SIGINT (after which wrk prints
-- its results and calls done() as at the end of -d).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   limit = tonumber(args[1])
   wrk.method = "POST"
   wrk.body = args[2]
   wrk.headers["Content-Type"] = "application/json"
   scheduled = 0
   answered = 0
   statuses = {}
end

-- wrk asks before each request it sends: the first N go at once, the rest never (a connection
-- that would send one more waits on a timer until the thread stops), so exactly N are sent.
function delay()
   scheduled = scheduled + 1
   if scheduled <= limit then
      return 0
   end
   return 3600 * 1000
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   answered = answered + 1
   if answered == limit then
      io.write("taskq-wrk-answered\n")
      io.flush()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local parts, non_202 = {}, 0
   for status, count in pairs(merged) do
      table.insert(parts, string.format('"%s":%d', status, count))
      if status ~= "202" then
         non_202 = non_202 + count
      end
   end
   local errors = summary.errors
   io.write(string.format(
      'taskq-wrk-result {"requests":%d,"duration_us":%d,"status":{%s},"non_202":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, table.concat(parts, ","), non_202,
      errors.connect, errors.read, errors.write, errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.max
   ))
end
