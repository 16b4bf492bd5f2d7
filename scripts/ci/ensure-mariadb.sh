#!/usr/bin/env bash
# Makes sure a MariaDB (or MySQL) server answers on 127.0.0.1:3306 for user root without a password and has a
# database `test`: uses the running one, starts an installed one, or installs MariaDB from Debian's packages.
set -euo pipefail

client() { command -v mariadb >/dev/null 2>&1 && echo mariadb || echo mysql; }
ready() { command -v "$(client)" >/dev/null 2>&1 && "$(client)" -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' >/dev/null 2>&1; }

if ready; then
  echo "[mariadb] running on 127.0.0.1:3306"
else
  if ! command -v mariadbd >/dev/null 2>&1 && ! command -v mysqld >/dev/null 2>&1; then
    echo "[mariadb] installing from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq mariadb-server >/dev/null
  fi
  service mariadb start >/dev/null 2>&1 || service mysql start >/dev/null 2>&1 ||
    (mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null; (mysqld_safe >/dev/null 2>&1 &))
  for _ in $(seq 1 30); do "$(client)" -u root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
  # Debian's root authenticates by unix socket only: allow TCP from 127.0.0.1 without a password (tests only).
  "$(client)" -u root <<'SQL'
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  for _ in $(seq 1 30); do ready && break; sleep 1; done
  ready || { echo "[mariadb] did not start" >&2; exit 1; }
  echo "[mariadb] started on 127.0.0.1:3306"
fi
"$(client)" -h 127.0.0.1 -P 3306 -u root -e 'CREATE DATABASE IF NOT EXISTS test'
