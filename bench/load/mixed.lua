-- The mixed scenario: 50% /api/stats, 25% /api/v2/posts walks, 25% /api/v1/tasks (90/10).
dofile("bench/load/common.lua")
request = function()
    local roll = math.random()
    if roll < 0.5 then return stats_request() end
    if roll < 0.75 then return posts_request() end
    return tasks_request()
end
