-- Run on the PRIMARY: the replication user and the application user.
CREATE USER IF NOT EXISTS 'repl'@'10.%' IDENTIFIED BY 'CHANGE_ME_REPL';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'10.%';
CREATE DATABASE IF NOT EXISTS platform CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'platform'@'10.%' IDENTIFIED BY 'CHANGE_ME_APP';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, REFERENCES, LOCK TABLES ON platform.* TO 'platform'@'10.%';
-- Read-only account for the replicas' DATABASE_REPLICA_URLS.
CREATE USER IF NOT EXISTS 'platform_ro'@'10.%' IDENTIFIED BY 'CHANGE_ME_RO';
GRANT SELECT ON platform.* TO 'platform_ro'@'10.%';

-- Then on each REPLICA (after restoring a mariabackup of the primary):
--   CHANGE MASTER TO MASTER_HOST='10.0.0.10', MASTER_USER='repl', MASTER_PASSWORD='CHANGE_ME_REPL',
--     MASTER_USE_GTID=slave_pos;
--   START SLAVE;
--   SHOW SLAVE STATUS\G   -- Seconds_Behind_Master should stay well under REPLICA_PIN_SECONDS (5)
