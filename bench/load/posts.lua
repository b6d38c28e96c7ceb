-- GET /api/v2/posts: random fields/include/limit, then follow meta.cursor.next up to 10 pages.
dofile("bench/load/common.lua")
request = posts_request
