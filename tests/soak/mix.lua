-- tests/soak/mix.lua: the soak's request mix for wrk.  Each thread rotates
-- through PATHS (one request at a time per connection, as wrk does) and
-- counts the requests it generated (per path) and the responses it read
-- (per status).  done() prints the totals as "soak_*" lines for soak.sh.
--
-- request() runs when wrk starts writing a new request on a connection,
-- so "sent" counts requests handed to the socket (a write that fails is
-- counted by wrk as a write error); response() runs once per whole
-- response read.

local paths = { "/", "/delay/50", "/hang", "/reset", "/close",
    "/drip/5/20", "/bytes/16384" }
local threads = {}
local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("id", nthreads)
	table.insert(threads, thread)
end

function init(args)
	sent = {}
	reqs = {}
	for i, p in ipairs(paths) do
		sent[i] = 0
		reqs[i] = wrk.format("GET", p)
	end
	statuses = {}
	responses = 0
	-- Threads start at different points of the rotation.
	idx = (id or 0) % #paths
end

function request()
	idx = idx % #paths + 1
	if first == nil then first = idx end
	sent[idx] = sent[idx] + 1
	return reqs[idx]
end

function response(status, headers, body)
	responses = responses + 1
	local k = tostring(status)
	statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
	local total_sent, total_resp = 0, 0
	local by_path, by_status = {}, {}
	for _, t in ipairs(threads) do
		local s = t:get("sent")
		for i, p in ipairs(paths) do
			by_path[p] = (by_path[p] or 0) + s[i]
			total_sent = total_sent + s[i]
		end
		total_resp = total_resp + t:get("responses")
		if t:get("id") == 1 then
			io.write(string.format("soak_verify %s\n",
			    paths[t:get("first")]))
		end
		for k, v in pairs(t:get("statuses")) do
			by_status[k] = (by_status[k] or 0) + v
		end
	end
	for _, p in ipairs(paths) do
		io.write(string.format("soak_sent %s %d\n", p, by_path[p]))
	end
	for k, v in pairs(by_status) do
		io.write(string.format("soak_status %s %d\n", k, v))
	end
	io.write(string.format("soak_total sent=%d responses=%d requests=%d " ..
	    "connect=%d read=%d write=%d timeout=%d status=%d\n",
	    total_sent, total_resp, summary.requests, summary.errors.connect,
	    summary.errors.read, summary.errors.write, summary.errors.timeout,
	    summary.errors.status))
end
