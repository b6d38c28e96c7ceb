#!/usr/bin/env bash
# Starts MariaDB and Redis for tests when they are not answering (the commands this machine
# documents), then waits until both are ready. Never stops or reconfigures running ones.
set -euo pipefail
host_mysql=${TEST_MYSQL_HOST:-127.0.0.1}
port_mysql=${TEST_MYSQL_PORT:-3306}
port_redis=${TEST_REDIS_PORT:-6379}

mysql_ready() { mariadb-admin -h "$host_mysql" -P "$port_mysql" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }
redis_ready() { redis-cli -p "$port_redis" ping 2>/dev/null | grep -q PONG; }

if ! mysql_ready; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
fi
if ! redis_ready; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port_redis" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 60); do
  if mysql_ready && redis_ready; then
    # root over TCP with an empty password, as on the development machines
    mariadb -h "$host_mysql" -P "$port_mysql" -uroot -e "SELECT 1" >/dev/null 2>&1 || \
      mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" || true
    echo "services ready: MariaDB $host_mysql:$port_mysql, Redis :$port_redis"
    exit 0
  fi
  sleep 1
done
echo "services did not become ready" >&2
exit 1
