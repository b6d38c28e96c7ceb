-- nginx `return 200` (no upstream): the upper bound of this machine and wrk.
dofile("bench/load/common.lua")
request = function()
    return wrk.format("GET", "/_stack/return200", {["X-Forwarded-For"] = random_ip()})
end
