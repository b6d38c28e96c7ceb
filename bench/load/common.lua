-- Shared by the bench/load scenarios (loaded with dofile from the repository root).
-- Script arguments (after `--`): rate (req/s over all connections; 0 = as fast as possible),
-- connections, tokens file (tasks/mixed), seed.
-- Each thread counts statuses; done() prints one `WRKJSON {...}` line for bench/load.py.

threads = {}

function setup(thread)
    table.insert(threads, thread)
end

statuses = {}
retry_after_missing = 0  -- 429/503 answers without Retry-After
gap_ms = 0
tokens = {}

token_of = {}  -- user id -> token, to complete a created task as its owner

local function load_tokens(path)
    -- lines of "<user id> <access token>"
    local list = {}
    if path and path ~= "" then
        for line in io.lines(path) do
            local user, token = line:match("^(%d+) (%S+)$")
            if token then
                table.insert(list, token)
                token_of[user] = token
            end
        end
    end
    return list
end

function common_init(args)
    local rate = tonumber(args[1] or "0") or 0
    local connections = tonumber(args[2] or "1") or 1
    if rate > 0 then
        -- each connection waits this long between requests on average (closed loop: the
        -- achieved rate is a little lower by the response time; load.py reports it)
        gap_ms = 1000.0 * connections / rate
    end
    tokens = load_tokens(args[3])
    local seed = tonumber(args[4] or "0") or 0
    math.randomseed(os.time() + seed + math.floor(os.clock() * 1000000) + tonumber(tostring({}):sub(8), 16))
end

function init(args)
    common_init(args)
end

function delay()
    if gap_ms <= 0 then return 0 end
    return math.floor(gap_ms * (0.5 + math.random()))
end

-- ------------------------------------------------------------------ requests
local ip_pool = 1000000

function random_ip()
    local n = math.random(0, ip_pool - 1)
    return "100." .. (64 + math.floor(n / 65536) % 64) .. "." .. (math.floor(n / 256) % 256) .. "." .. (n % 256)
end

function stats_request()
    return wrk.format("GET", "/api/stats", {["X-Forwarded-For"] = random_ip()})
end

local field_sets = {
    "", "fields=id,title,slug,published_at", "include=author", "include=author,category",
    "include=author,category,tags", "fields=id,title,author.name&include=author",
    "fields=id,title,tag_ids",
}
next_cursor = nil
local walk_depth = 0
local walk_query = ""

function posts_request()
    local path
    if next_cursor and walk_depth < 10 then
        walk_depth = walk_depth + 1
        path = "/api/v2/posts?" .. walk_query .. "cursor=" .. next_cursor
    else
        walk_depth = 0
        local fields = field_sets[math.random(1, #field_sets)]
        local limit = ({10, 20, 50})[math.random(1, 3)]
        walk_query = "limit=" .. limit .. "&" .. (fields ~= "" and (fields .. "&") or "")
        path = "/api/v2/posts?" .. walk_query:sub(1, -2)
    end
    next_cursor = nil
    return wrk.format("GET", path, {["X-Forwarded-For"] = random_ip()})
end

local created = {}
local task_reads = {"", "?status=pending", "?ordering=due_date", "?page_size=50", "?status=completed"}

function tasks_request()
    if #tokens == 0 then
        -- wrk calls request() once in its main state (no init) to check the request is valid
        return wrk.format("GET", "/api/v1/tasks")
    end
    local token = tokens[math.random(1, #tokens)]
    local headers = {["Authorization"] = "Bearer " .. token, ["X-Forwarded-For"] = random_ip()}
    local roll = math.random()
    if roll < 0.90 then
        return wrk.format("GET", "/api/v1/tasks" .. task_reads[math.random(1, #task_reads)], headers)
    end
    headers["Content-Type"] = "application/json"
    local pending = table.remove(created)
    if pending and roll < 0.95 then
        -- complete a task this thread created (with its owner's token)
        headers["Authorization"] = "Bearer " .. pending[2]
        return wrk.format("POST", "/api/v1/tasks/" .. pending[1] .. "/complete", headers, "")
    end
    local body = '{"title":"load ' .. math.random(1, 1000000) .. '","due_date":"2027-01-0' .. math.random(1, 9) .. 'T09:00:00Z"}'
    return wrk.format("POST", "/api/v1/tasks", headers, body)
end

-- ------------------------------------------------------------------ responses
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if (status == 429 or status == 503) and not (headers["Retry-After"] or headers["retry-after"]) then
        retry_after_missing = retry_after_missing + 1
    end
    if body then
        local cursor = body:match('"next":"([^"]+)"')
        if cursor then next_cursor = cursor end
        if status == 201 then
            local id, owner = body:match('"data":{"id":(%d+),"owner_id":(%d+)')
            if id and token_of[owner] and #created < 100 then
                table.insert(created, {id, token_of[owner]})
            end
        end
    end
end

function done(summary, latency, requests)
    local merged = {}
    local missing = 0
    for _, thread in ipairs(threads) do
        for status, count in pairs(thread:get("statuses")) do
            merged[status] = (merged[status] or 0) + count
        end
        missing = missing + (thread:get("retry_after_missing") or 0)
    end
    local parts = {}
    for status, count in pairs(merged) do
        table.insert(parts, string.format('"%d":%d', status, count))
    end
    local errors = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
        '"retry_after_missing":%d,"statuses":{%s}}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
        latency:percentile(99), latency.max, errors.connect, errors.read, errors.write,
        errors.timeout, errors.status, missing, table.concat(parts, ",")))
end
