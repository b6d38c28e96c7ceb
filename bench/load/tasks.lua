-- Authenticated /api/v1/tasks: 90% list reads (filters, orderings), 10% writes (create, or
-- complete a task created earlier), each request as one of many users (tokens file).
dofile("bench/load/common.lua")
request = tasks_request
