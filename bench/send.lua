-- wrk script for bench/sends.sh: every request is one durable message send
-- (POST /messages, each starting a thread, as benches/nodes.rs sends), from the agent
-- whose key is in AGENTX_KEY to AGENTX_TO.
-- Prints one JSON line at the end; latencies are wrk's, in milliseconds.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("AGENTX_KEY")
wrk.body = string.format('{"to_agent_id":"%s","content":"a message of ordinary length"}',
  os.getenv("AGENTX_TO"))

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local ok = summary.requests - e.status
  io.write(string.format(
    '{"sends_per_s":%.0f,"errors":%d,"non_2xx":%d,"p50_ms":%.2f,"p99_ms":%.2f}\n',
    ok / seconds, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
