-- wrk script for bench/e2e/run.sh: optional "Connection: close" (a new
-- connection per request, XLB_CLOSE=1) and one machine-readable result line:
-- RESULT <requests/s> <p50 us> <p99 us> <requests> <errors> <non-2xx>
if os.getenv("XLB_CLOSE") == "1" then
	wrk.headers["Connection"] = "close"
end

done = function(summary, latency, requests)
	local e = summary.errors
	local errors = e.connect + e.read + e.write + e.timeout
	io.write(string.format("RESULT %.1f %d %d %d %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		summary.requests, errors, e.status))
end
