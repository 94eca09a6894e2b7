-- kv.lua - wrk request generator for tools/bench (etcd v2 /v2/keys load).
--
-- Parameters come from the environment because the top level of the script
-- runs in wrk's main Lua state too, and `response` must be defined there for
-- wrk to parse bodies at all (it decides once, before any thread starts):
--   BENCH_MODE   put | get | load   (load writes every key exactly once per
--                                    pass, split across threads, then stops)
--   BENCH_KEYS   size of the key space (keys are <prefix>/k<n>)
--   BENCH_VSIZE  value size in bytes for put/load
--   BENCH_PREFIX path prefix, e.g. /v2/keys/bench
--   BENCH_QUERY  query string appended to GETs, e.g. ?quorum=true
--   BENCH_THREADS the -t given to wrk, so load can partition the key space
--   BENCH_CONNS   the -c given to wrk
-- done() prints one line "BENCHJSON {...}" that bench.py parses.

local mode = os.getenv("BENCH_MODE") or "put"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local vsize = tonumber(os.getenv("BENCH_VSIZE") or "256")
local prefix = os.getenv("BENCH_PREFIX") or "/v2/keys/bench"
local query = os.getenv("BENCH_QUERY") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local nconns = tonumber(os.getenv("BENCH_CONNS") or "1")

local next_tid = 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local body = "value=" .. string.rep("v", vsize)
local sent, answered, quota = 0, 0, 0

function setup(thread)
	thread:set("tid", next_tid)
	next_tid = next_tid + 1
end

function init(args)
	math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
	-- Keys tid, tid + nthreads, ... belong to this thread.
	quota = math.floor((nkeys - (tid or 0) + nthreads - 1) / nthreads)
end

local function key_path(n)
	return prefix .. "/k" .. n
end

function request()
	if mode == "get" then
		return wrk.format("GET", key_path(math.random(0, nkeys - 1)) .. query)
	end
	local n
	if mode == "load" then
		-- Past the quota, rewrite the thread's keys again: harmless, and it
		-- keeps every connection busy until the stop below.
		n = (tid or 0) + nthreads * (sent % quota)
		sent = sent + 1
	else
		n = math.random(0, nkeys - 1)
	end
	return wrk.format("PUT", key_path(n), headers, body)
end

if mode == "load" then
	-- Connections answer roughly in order; once a connection's worth of
	-- answers beyond the quota has arrived, the first pass is done. wrk's
	-- main thread sleeps for the whole -d regardless, so the thread says so
	-- on stdout and bench.py interrupts wrk (SIGINT ends it cleanly). bench.py
	-- also checks the key count afterwards and fills any gap.
	function response(status, hdrs, b)
		answered = answered + 1
		if answered == quota + math.ceil(nconns / nthreads) then
			io.write("BENCHDONE\n")
			io.flush()
		end
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
		'"err_timeout":%d,"lat_mean_us":%.1f,"lat_max_us":%d,' ..
		'"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency.mean, latency.max,
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency:percentile(99.9)))
end
