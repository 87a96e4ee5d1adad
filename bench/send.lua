-- wrk script for bench/sends.py: every request is one durable message send (POST /messages,
-- the body benches/nodes.rs sends: no category, so each starts a thread), from the agent
-- whose key is in AGENTX_KEY to AGENTX_TO.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("AGENTX_KEY")
wrk.body = string.format('{"to_agent_id":"%s","content":"a message of ordinary length"}',
  os.getenv("AGENTX_TO"))
