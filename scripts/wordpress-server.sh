#!/usr/bin/env bash
# shellcheck disable=SC2016  # PHP code in single quotes: its $ are PHP's
# A real WordPress site on 127.0.0.1 for integration tests, from Debian's
# packages only (wordpress, php, mariadb), with everything it writes inside DIR.
#
#   scripts/wordpress-server.sh start DIR   # prints one line of JSON, leaves the servers running
#   scripts/wordpress-server.sh stop DIR    # stops them (the site and its database stay in DIR)
#
# The JSON: {"url","url_subpath","url_stripping_auth","user","app_password",
# "login_password","post_id","pids","dir"}.
#   url                 the site at the root of a port; pretty permalinks
#                       (/wp-json/...) and ?rest_route= both work
#   url_subpath         the same site installed under /blog/ on another port
#                       (only /blog/... answers there; / is a plain 404)
#   url_stripping_auth  the same site behind a host that drops the
#                       Authorization header before WordPress sees it
#   app_password        an Application Password of `user` (Basic auth)
#   login_password      the user's normal password (REST rejects it for Basic auth)
#   post_id             a published post; posts also take {"acf":{"hero_image":ID}},
#                       an ACF-style image field (a mu-plugin; ACF itself is not packaged)
# Environment: WP_PORT picks the main port (default: a free one, the last one
# used if still free; the other two ports likewise), WP_WORKERS the PHP workers
# per server (4). A second `start` while the servers run prints the same JSON
# again (stop first to change ports). The first start installs (apt, only what is missing) and sets up
# the site; later starts only start the servers.
# Logs: DIR/logs (mariadb.log, http-*.log, php-errors.log).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)

SITE=$DIR/site          # WordPress core (hard links to /usr/share/wordpress) + wp-config.php
SUBROOT=$DIR/www-sub    # document root of the sub-path server: blog -> ../site
DATA=$DIR/mysql         # MariaDB's datadir
RUN=$DIR/run            # pids, ports
LOGS=$DIR/logs
TOOLS=$DIR/tools        # router and setup scripts, written by this script
INSTALLED=$DIR/installed.json
SOCK=$RUN/mysqld.sock
# A unix socket path is limited to 107 bytes.
if [ ${#SOCK} -gt 100 ]; then
  SOCK=/tmp/outbox-wp-$(printf %s "$DIR" | md5sum | cut -c1-16).sock
fi

log() { echo "wordpress-server: $*" >&2; }

# ---------------------------------------------------------------- processes

# A zombie (exited, not yet reaped by its new parent) counts as gone.
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null \
    && [ "$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# True when pid $1 is one of ours: its command line names DIR.
ours() { alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$DIR/"; }

# Stops the server whose pid is in file $1 (its whole process group: php -S
# forks workers), waiting up to $2 seconds before SIGKILL.
stop_pidfile() {
  local file=$1 wait=$2 pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if ours "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$file"
}

stop_all() {
  stop_pidfile "$RUN/http-main.pid" 5
  stop_pidfile "$RUN/http-strip.pid" 5
  stop_pidfile "$RUN/http-sub.pid" 5
  stop_pidfile "$RUN/mariadb.pid" 60
  rm -f "$SOCK"
}

if [ "$cmd" = stop ]; then
  stop_all
  exit 0
elif [ "$cmd" != start ]; then
  usage
fi

# ---------------------------------------------------------------- packages

# Debian's wordpress package brings php, php-mysql, php-gd and a MySQL client;
# it also pulls apache2 (for its "apache2 | httpd" dependency), which this
# script never starts. mariadb-server-core has mariadbd and mariadb-install-db
# without the system service.
need=(wordpress php-cli php-mysql php-gd php-xml mariadb-server-core mariadb-client curl)
missing=()
for pkg in "${need[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# ---------------------------------------------------------------- already running?

main_url() { echo "http://127.0.0.1:$(cat "$RUN/http-main.port")"; }

if [ -f "$RUN/state.json" ] && ours "$(cat "$RUN/mariadb.pid" 2>/dev/null)" \
  && ours "$(cat "$RUN/http-main.pid" 2>/dev/null)" && ours "$(cat "$RUN/http-strip.pid" 2>/dev/null)" \
  && ours "$(cat "$RUN/http-sub.pid" 2>/dev/null)" \
  && curl -fsS -o /dev/null --max-time 10 "$(main_url)/?rest_route=/"; then
  cat "$RUN/state.json"
  exit 0
fi
stop_all   # whatever is left of an earlier run
# A start that fails half-way leaves nothing running.
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || stop_all
  exit "$rc"
}
trap on_exit EXIT

mkdir -p "$RUN" "$LOGS" "$TOOLS" "$DIR/opcache"

# ---------------------------------------------------------------- files written every start

# Router for PHP's built-in server: static files as they are, PHP files run,
# everything else to WordPress's index.php (pretty permalinks). Environment:
# OUTBOX_WP_BASE (a sub-path such as /blog), OUTBOX_WP_STRIP_AUTH=1 (drop the
# Authorization header, as some hosts do).
cat >"$TOOLS/router.php" <<'PHP'
<?php
$__outbox_base = rtrim((string) getenv('OUTBOX_WP_BASE'), '/');
if (getenv('OUTBOX_WP_STRIP_AUTH') === '1') {
    foreach (['HTTP_AUTHORIZATION', 'REDIRECT_HTTP_AUTHORIZATION', 'PHP_AUTH_USER', 'PHP_AUTH_PW', 'PHP_AUTH_DIGEST', 'AUTH_TYPE'] as $__outbox_k) {
        unset($_SERVER[$__outbox_k]);
    }
}
$__outbox_path = rawurldecode((string) parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH));
if ($__outbox_base !== '' && $__outbox_path !== $__outbox_base
    && strncmp($__outbox_path, $__outbox_base . '/', strlen($__outbox_base) + 1) !== 0) {
    http_response_code(404);
    header('Content-Type: text/plain');
    echo "Not found: this site lives under $__outbox_base/\n";
    return true;
}
$__outbox_root = rtrim($_SERVER['DOCUMENT_ROOT'], '/');
if ($__outbox_path === $__outbox_base) {
    $__outbox_path .= '/';
}
$__outbox_file = $__outbox_root . $__outbox_path;
if (is_dir($__outbox_file) && is_file(rtrim($__outbox_file, '/') . '/index.php')) {
    if (substr($__outbox_path, -1) !== '/') {
        header('Location: ' . $__outbox_path . '/', true, 301);
        return true;
    }
    $__outbox_path .= 'index.php';
    $__outbox_file .= 'index.php';
}
if (!is_file($__outbox_file)) {
    $__outbox_path = $__outbox_base . '/index.php';
    $__outbox_file = $__outbox_root . $__outbox_path;
} elseif (substr($__outbox_file, -4) !== '.php') {
    return false;
}
$_SERVER['SCRIPT_NAME'] = $__outbox_path;
$_SERVER['PHP_SELF'] = $__outbox_path;
$_SERVER['SCRIPT_FILENAME'] = $__outbox_file;
chdir(dirname($__outbox_file));
$__outbox_target = $__outbox_file;
unset($__outbox_base, $__outbox_path, $__outbox_root, $__outbox_file, $__outbox_k);
require $__outbox_target;
PHP

# ---------------------------------------------------------------- first start: set up

# Runs a server in its own session (it outlives the caller's process group and
# is stopped as a group) with no fd of ours open; its pid goes to file $1.
spawn() {
  local pidfile=$1 logfile=$2 i
  shift 2
  rm -f "$pidfile"
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logfile" 2>&1 &
  for ((i = 0; i < 100; i++)); do [ -s "$pidfile" ] && return 0; sleep 0.02; done
  log "could not start $1"
  exit 1
}

db_start() {
  spawn "$RUN/mariadb.pid" "$LOGS/mariadb.log" mariadbd --no-defaults --user="$(id -un)" --datadir="$DATA" --socket="$SOCK" \
    --pid-file="$RUN/mariadbd.pid" --skip-networking --log-error="$LOGS/mariadb.log" \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=0 \
    --skip-log-bin --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
  local i
  for ((i = 0; i < 300; i++)); do
    mariadb-admin --no-defaults --socket="$SOCK" -uroot ping >/dev/null 2>&1 && return 0
    alive "$(cat "$RUN/mariadb.pid")" || break
    sleep 0.1
  done
  log "MariaDB did not start; see $LOGS/mariadb.log"
  tail -20 "$LOGS/mariadb.log" >&2
  exit 1
}

if [ ! -f "$INSTALLED" ]; then
  log "setting up a new site in $DIR"
  rm -rf "$SITE" "$SUBROOT" "$DATA"

  # WordPress core: hard links where /usr/share/wordpress is on the same file
  # system (fast, nothing here writes into core files), a copy otherwise.
  # wp-content is always a real copy (uploads and mu-plugins are written there).
  cp -al /usr/share/wordpress "$SITE" 2>/dev/null || { rm -rf "$SITE"; cp -a /usr/share/wordpress "$SITE"; }
  rm -rf "$SITE/wp-content" "$SITE/wp-config.php" "$SITE/.htaccess"
  cp -a /usr/share/wordpress/wp-content "$SITE/wp-content"
  mkdir -p "$SITE/wp-content/uploads" "$SITE/wp-content/mu-plugins"
  mkdir -p "$SUBROOT" && ln -s ../site "$SUBROOT/blog"

  # Debian's own wp-config.php reads /etc/wordpress/config-HOST.php; a plain one
  # keeps the site self-contained. Home and site URLs follow the request (any
  # port, and the sub-path of the server that answers).
  salts=$(php -r 'foreach (["AUTH_KEY","SECURE_AUTH_KEY","LOGGED_IN_KEY","NONCE_KEY","AUTH_SALT","SECURE_AUTH_SALT","LOGGED_IN_SALT","NONCE_SALT"] as $k) printf("define(%s, %s);\n", var_export($k, true), var_export(bin2hex(random_bytes(32)), true));')
  cat >"$SITE/wp-config.php" <<PHP
<?php
// Written by scripts/wordpress-server.sh (Outbox's integration tests).
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:' . (getenv('OUTBOX_WP_DB_SOCKET') ?: '$SOCK'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$salts
\$table_prefix = 'wp_';

// Application Passwords need HTTPS unless the environment is 'local'.
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_DEBUG', false);
define('WP_DEBUG_DISPLAY', false);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('WP_HTTP_BLOCK_EXTERNAL', true);   // no update checks against the internet
define('FS_METHOD', 'direct');

define('WP_HOME', 'http://' . (\$_SERVER['HTTP_HOST'] ?? '127.0.0.1') . rtrim((string) getenv('OUTBOX_WP_BASE'), '/'));
define('WP_SITEURL', WP_HOME);

if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
PHP

  # The ACF-style field: posts and pages get an "acf" object in the REST API
  # with an image field "hero_image" (an attachment ID or null), stored as
  # post meta the way ACF stores it (hero_image + _hero_image = field key).
  # Updating mirrors ACF 5.11+/6.x: POST /wp/v2/posts/ID {"acf":{"hero_image":ID}};
  # unknown field names are ignored; a non-attachment ID is a 400 rest_invalid_param.
  cat >"$SITE/wp-content/mu-plugins/outbox-acf-field.php" <<'PHP'
<?php
/*
 * Plugin Name: Outbox test: ACF-style image field
 * Description: Simulates ACF's REST integration for one image field, hero_image.
 */
add_action('rest_api_init', function () {
    foreach (['post', 'page'] as $type) {
        register_rest_field($type, 'acf', [
            'schema' => [
                'description' => 'ACF field data',
                'type' => 'object',
                'properties' => [
                    'hero_image' => ['type' => ['integer', 'null'], 'required' => false],
                ],
                'arg_options' => [
                    'validate_callback' => function ($value, $request, $param) {
                        $valid = rest_validate_request_arg($value, $request, $param);
                        if (true !== $valid) {
                            return $valid;
                        }
                        if (is_array($value) && isset($value['hero_image'])) {
                            $id = $value['hero_image'];
                            if (!is_int($id) || 'attachment' !== get_post_type($id)) {
                                return new WP_Error('rest_invalid_param', 'acf[hero_image] requires a valid attachment ID.',
                                    ['param' => 'acf[hero_image]', 'value' => (int) $id]);
                            }
                        }
                        return true;
                    },
                ],
            ],
            'get_callback' => function ($object) {
                $id = get_post_meta($object['id'], 'hero_image', true);
                return ['hero_image' => $id === '' ? null : (int) $id];
            },
            'update_callback' => function ($data, $post) {
                if (!is_array($data) || !array_key_exists('hero_image', $data)) {
                    return true;
                }
                if ($data['hero_image'] === null) {
                    update_post_meta($post->ID, 'hero_image', '');
                } else {
                    update_post_meta($post->ID, 'hero_image', (string) (int) $data['hero_image']);
                }
                update_post_meta($post->ID, '_hero_image', 'field_outbox_hero_image');
                return true;
            },
        ]);
    }
});
PHP

  # mariadb-install-db (a shell script) breaks on a datadir with spaces: it
  # gets a space-free symlink to it.
  mkdir -p "$DATA"
  datadir=$DATA
  case $DATA in *[[:space:]]*)
    datadir=$(mktemp -u /tmp/outbox-wp-db.XXXXXX) && ln -s "$DATA" "$datadir" ;;
  esac
  mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$datadir" \
    --auth-root-authentication-method=normal --skip-test-db \
    --innodb-log-file-size=8M --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=0 \
    >"$LOGS/mariadb-install-db.log" 2>&1 || { cat "$LOGS/mariadb-install-db.log" >&2; exit 1; }
  [ "$datadir" = "$DATA" ] || rm -f "$datadir"
  db_start
  mariadb --no-defaults --socket="$SOCK" -uroot \
    -e 'CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'

  cat >"$TOOLS/install.php" <<'PHP'
<?php
// Installs WordPress: what wp-admin/install.php does in a browser.
$_SERVER['HTTP_HOST'] = '127.0.0.1';
define('WP_INSTALLING', true);
require getenv('OUTBOX_WP_SITE') . '/wp-load.php';
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password) {}  // no mail
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$password = bin2hex(random_bytes(12));
$result = wp_install('Outbox test site', 'admin', 'admin@example.test', true, '', $password);
echo json_encode(['user_id' => $result['user_id'], 'password' => $password]);
PHP
  cat >"$TOOLS/configure.php" <<'PHP'
<?php
// Pretty permalinks, an Application Password and a post.
$_SERVER['HTTP_HOST'] = '127.0.0.1';
require getenv('OUTBOX_WP_SITE') . '/wp-load.php';
$user_id = (int) $argv[1];
global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%postname%/');
flush_rewrite_rules(false);
$app = WP_Application_Passwords::create_new_application_password($user_id, ['name' => 'outbox-tests']);
if (is_wp_error($app)) {
    fwrite(STDERR, $app->get_error_message() . "\n");
    exit(1);
}
$post_id = wp_insert_post([
    'post_title' => 'Outbox test post',
    'post_content' => 'A post for Outbox to attach images to.',
    'post_status' => 'publish',
    'post_author' => $user_id,
], true);
if (is_wp_error($post_id)) {
    fwrite(STDERR, $post_id->get_error_message() . "\n");
    exit(1);
}
echo json_encode(['app_password' => $app[0], 'post_id' => $post_id]);
PHP
  export OUTBOX_WP_SITE=$SITE OUTBOX_WP_DB_SOCKET=$SOCK
  install=$(php -d display_errors=stderr "$TOOLS/install.php")
  user_id=$(php -r 'echo json_decode($argv[1])->user_id;' "$install")
  configured=$(php -d display_errors=stderr "$TOOLS/configure.php" "$user_id")
  php -r '$i = json_decode($argv[1], true); $c = json_decode($argv[2], true);
    echo json_encode(["user" => "admin", "app_password" => $c["app_password"],
      "login_password" => $i["password"], "post_id" => $c["post_id"]]);' \
    "$install" "$configured" >"$INSTALLED.tmp"
  mv "$INSTALLED.tmp" "$INSTALLED"
else
  db_start
fi

# ---------------------------------------------------------------- HTTP servers

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr($n, strrpos($n, ":") + 1);'
}

# Starts php -S for server $1 (main|strip|sub) with document root $2, extra
# environment in the rest; prefers WP_PORT (main) or the port it had last time.
# PHP_CLI_SERVER_WORKERS: concurrent requests (php -S serves one at a time otherwise).
# opcache.file_cache: compiled WordPress kept across restarts (warm start 2 s -> 1 s).
http_start() {
  local name=$1 docroot=$2 port
  shift 2
  port=""
  if [ "$name" = main ] && [ -n "${WP_PORT:-}" ]; then
    port=$WP_PORT
    if port_in_use "$port"; then log "port $port (WP_PORT) is in use"; exit 1; fi
  elif [ -f "$RUN/http-$name.port" ] && ! port_in_use "$(cat "$RUN/http-$name.port")"; then
    port=$(cat "$RUN/http-$name.port")
  fi
  [ -n "$port" ] || port=$(free_port)
  echo "$port" >"$RUN/http-$name.port"
  spawn "$RUN/http-$name.pid" "$LOGS/http-$name.log" \
    env "$@" OUTBOX_WP_DB_SOCKET="$SOCK" PHP_CLI_SERVER_WORKERS="${WP_WORKERS:-4}" \
    php -d display_errors=0 -d log_errors=1 -d error_log="$LOGS/php-errors.log" \
    -d upload_max_filesize=128M -d post_max_size=128M -d memory_limit=512M \
    -d opcache.file_cache="$DIR/opcache" \
    -S "127.0.0.1:$port" -t "$docroot" "$TOOLS/router.php"
}

http_start main "$SITE"
http_start strip "$SITE" OUTBOX_WP_STRIP_AUTH=1
http_start sub "$SUBROOT" OUTBOX_WP_BASE=/blog

url=http://127.0.0.1:$(cat "$RUN/http-main.port")
url_strip=http://127.0.0.1:$(cat "$RUN/http-strip.port")
url_sub=http://127.0.0.1:$(cat "$RUN/http-sub.port")/blog
# Each server's first request compiles WordPress (about half a second): in parallel.
wait_http() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null --max-time 10 "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "no answer from $1; see $LOGS"
  return 1
}
checks=()
for check in "$url" "$url_strip" "$url_sub"; do
  wait_http "$check/?rest_route=/wp/v2/types/post" &
  checks+=($!)
done
for pid in "${checks[@]}"; do wait "$pid" || exit 1; done

php -r '$s = json_decode(file_get_contents($argv[1]), true);
  echo json_encode(["url" => $argv[2], "url_subpath" => $argv[3], "url_stripping_auth" => $argv[4],
    "user" => $s["user"], "app_password" => $s["app_password"], "login_password" => $s["login_password"],
    "post_id" => $s["post_id"], "pids" => array_map("intval", array_slice($argv, 6)), "dir" => $argv[5]],
    JSON_UNESCAPED_SLASHES), "\n";' \
  "$INSTALLED" "$url" "$url_sub" "$url_strip" "$DIR" \
  "$(cat "$RUN/mariadb.pid")" "$(cat "$RUN/http-main.pid")" "$(cat "$RUN/http-strip.pid")" "$(cat "$RUN/http-sub.pid")" \
  >"$RUN/state.json"
cat "$RUN/state.json"
