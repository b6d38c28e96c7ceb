"""HTTP in, HTTP out for posts: v1 (deprecated, page numbers) and v2 (cursors, fields)."""
