-- wrk script for the benchmark harness (bench/harness.py): every request carries the next of
-- the bearer tokens listed one a line in BENCH_TOKENS_FILE (many distinct users, not one), and
-- the results are printed as one JSON line that the harness reads.
local tokens = {}
local file = os.getenv("BENCH_TOKENS_FILE")
if file then
  for line in io.lines(file) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
end
local n = 0

request = function()
  if #tokens == 0 then return wrk.format(nil) end
  n = n % #tokens + 1
  return wrk.format(nil, nil, {["Authorization"] = tokens[n]})
end

done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, '
      .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
