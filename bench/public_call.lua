-- wrk: POST a public-agent call (bench/public_call.py), its token from $AGENTX_TOKEN.
-- No chatId: each call starts a session of its own, as a stateless app's calls do (one
-- shared chatId would grow one session without end over the run).
wrk.method = "POST"
wrk.body = '{"message":"hello","context":{"sender":"bench"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AGENTX_TOKEN")
