-- wrk script of scripts/loadtest.sh and scripts/abtest.sh: token exchanges
-- with the demo client, cycling through the subject tokens in the file named
-- after "--" (one a line; internal/loadgen mint writes them).
--   wrk -t2 -c32 -d20s -s scripts/exchange.lua http://127.0.0.1:18181 -- tokens
local tokens = {}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ="

function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = line
  end
  n = math.random(#tokens)
end

request = function()
  n = n + 1
  local body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" ..
    "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token" ..
    "&audience=https%3A%2F%2Forders.example.com&scope=orders.read" ..
    "&subject_token=" .. tokens[(n % #tokens) + 1]
  return wrk.format(nil, "/token", nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f non200=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
