-- GET /api/stats through nginx, a random client IP per request (X-Forwarded-For from the
-- trusted loopback proxy), so limit_req sees a million clients, not one.
dofile("bench/load/common.lua")
request = stats_request
