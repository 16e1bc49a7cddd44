#!/usr/bin/env bash
# Provision a throw-away single-node Elasticsearch on this machine for tests.
#
# The distribution is Maven Central's integration-test zip
#   org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip
# (no bundled JDK; a system JDK is selected through ES_JAVA_HOME).
# See deploy/elasticsearch/README.md for what that zip contains and what it lacks.
#
# Usage:
#   es-node.sh fetch                 download (via mvn) and unpack once into the cache
#   es-node.sh start  [WORKDIR]      start a node; prints the path of WORKDIR/es.env on stdout
#   es-node.sh stop   [WORKDIR]      stop it (idempotent)
#   es-node.sh resume WORKDIR        start a stopped node again on its data, credentials and port
#   es-node.sh status [WORKDIR]      print cluster health (exit 1 when not reachable)
#   es-node.sh env    [WORKDIR]      print the path of WORKDIR/es.env if the node was started
#   es-node.sh clean  [WORKDIR]      stop, then delete WORKDIR
#
# WORKDIR defaults to $FLEET_ES_WORKDIR; for `start` a fresh mktemp dir is used when neither is given.
# All chatter goes to stderr; stdout carries only the result (env file path / health JSON).
#
# Environment (all optional):
#   FLEET_ES_VERSION    distribution version                (default 8.19.21)
#   FLEET_ES_HOME       unpack cache                        (default $HOME/.cache/fleet-es)
#   FLEET_ES_M2_REPO    Maven local repository              (default $HOME/.m2/repository)
#   FLEET_ES_JAVA_HOME  JDK used as ES_JAVA_HOME            (default: Temurin 25, else newest JDK >= 17 found)
#   FLEET_ES_HEAP       heap size for -Xms/-Xmx             (default 512m)
#   FLEET_ES_JAVA_OPTS  extra JVM options appended to ES_JAVA_OPTS (e.g. -XX:-AlwaysPreTouch)
#   FLEET_ES_ALLOW_MMAP auto|true|false                     (default auto = false when vm.max_map_count < 262144)
#   FLEET_ES_PORT       fixed HTTP port                     (default 0 = kernel picks a free loopback port)
#   FLEET_ES_SECURITY   auto|true|false                     (default auto = on when the zip has x-pack-security)
#   FLEET_ES_TLS        true|false                          (default false) HTTPS: a CA and a node certificate
#                       (SAN localhost, 127.0.0.1) are made with openssl in WORKDIR/tls; es.env then gives an
#                       https FLEET_ES_URL, FLEET_ES_CA_FILE (= FLEET_ES_SSL_CA_FILE), the CA's SHA-256 and a client
#                       certificate signed by the same CA (FLEET_ES_SSL_CERT_FILE / _KEY_FILE). Needs security.
#   FLEET_ES_TLS_CLIENT_AUTH none|optional|required         (default optional) xpack.security.http.ssl.client_authentication
#   FLEET_ES_SHIM       auto|true|false                     (default auto = add the test-shim module when the
#                       distribution lacks analysis-common and rest-root; see README.md)
#   FLEET_ES_RUN_AS     unprivileged user used when invoked as root (default fleet-es; created on demand)
#   FLEET_ES_START_TIMEOUT  seconds to wait for green       (default 120)
#   FLEET_ES_STOP_TIMEOUT   seconds to wait for exit        (default 60)
set -euo pipefail

VERSION="${FLEET_ES_VERSION:-8.19.21}"
GROUP_ID="org.elasticsearch.distribution.integ-test-zip"
ARTIFACT_ID="elasticsearch"
CACHE_ROOT="${FLEET_ES_HOME:-$HOME/.cache/fleet-es}"
M2_REPO="${FLEET_ES_M2_REPO:-$HOME/.m2/repository}"
ES_DIST_HOME="$CACHE_ROOT/elasticsearch-$VERSION"
SHIM_DIR="$CACHE_ROOT/modules-$VERSION/fleet-test-shim"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
HEAP="${FLEET_ES_HEAP:-512m}"
START_TIMEOUT="${FLEET_ES_START_TIMEOUT:-120}"
STOP_TIMEOUT="${FLEET_ES_STOP_TIMEOUT:-60}"
RUN_AS_USER="${FLEET_ES_RUN_AS:-fleet-es}"
SERVICE_TOKEN_NAME="fleet-server-test"

log() { printf '[es-node] %s\n' "$*" >&2; }
die() { printf '[es-node] ERROR: %s\n' "$*" >&2; exit 1; }

zip_path() {
  local group_path="${GROUP_ID//.//}"
  printf '%s/%s/%s/%s/%s-%s.zip' "$M2_REPO" "$group_path" "$ARTIFACT_ID" "$VERSION" "$ARTIFACT_ID" "$VERSION"
}

# Extract a field from JSON on stdin: json_get 'expr' where expr is a python expression over `d`.
json_get() {
  local expr="$1"
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' >/dev/null 2>&1; then
    python3 -c "import json,sys; d=json.load(sys.stdin); print($expr)"
  elif command -v node >/dev/null 2>&1; then
    local js="${expr//\[\'/.}"; js="${js//\'\]/}"
    node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>{const d=JSON.parse(s);console.log($js)})"
  else
    die "need python3 or node to parse JSON"
  fi
}

# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------
cmd_fetch() {
  local zip; zip="$(zip_path)"
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.lock"
  flock -w 600 9 || die "could not lock $CACHE_ROOT/.lock"

  if [[ ! -s "$zip" ]]; then
    command -v mvn >/dev/null 2>&1 || die "mvn not found (needed to fetch $GROUP_ID:$ARTIFACT_ID:$VERSION:zip)"
    log "fetching $GROUP_ID:$ARTIFACT_ID:$VERSION:zip with mvn"
    local mvn_log; mvn_log="$(mktemp "${TMPDIR:-/tmp}/fleet-es-mvn.XXXXXX")"
    if ! mvn -B -Dstyle.color=never -Dmaven.repo.local="$M2_REPO" dependency:get \
        -Dartifact="$GROUP_ID:$ARTIFACT_ID:$VERSION:zip" -Dtransitive=false >"$mvn_log" 2>&1; then
      grep -E 'ERROR|BUILD' "$mvn_log" | head -n 20 >&2 || true
      rm -f "$mvn_log"
      die "mvn dependency:get failed for $VERSION (is that version published? see README.md)"
    fi
    rm -f "$mvn_log"
    [[ -s "$zip" ]] || die "mvn succeeded but $zip is missing"
  fi
  if [[ -s "$zip.sha1" ]]; then
    local want got
    want="$(awk '{print $1}' "$zip.sha1")"
    got="$(sha1sum "$zip" | awk '{print $1}')"
    [[ "$want" == "$got" ]] || die "sha1 mismatch for $zip (want $want, got $got); delete it and retry"
  fi

  if [[ -f "$ES_DIST_HOME/.unpacked" ]]; then
    log "already unpacked: $ES_DIST_HOME"
  else
    log "unpacking into $ES_DIST_HOME"
    rm -rf "$ES_DIST_HOME" "$CACHE_ROOT/.unpack-$VERSION"
    mkdir -p "$CACHE_ROOT/.unpack-$VERSION"
    unzip -q "$zip" -d "$CACHE_ROOT/.unpack-$VERSION"
    [[ -x "$CACHE_ROOT/.unpack-$VERSION/elasticsearch-$VERSION/bin/elasticsearch" ]] \
      || die "unexpected zip layout (no elasticsearch-$VERSION/bin/elasticsearch)"
    # world-readable so an unprivileged user can run it from a copy/hardlink mirror
    chmod -R a+rX "$CACHE_ROOT/.unpack-$VERSION"
    mv "$CACHE_ROOT/.unpack-$VERSION/elasticsearch-$VERSION" "$ES_DIST_HOME"
    rmdir "$CACHE_ROOT/.unpack-$VERSION"
    touch "$ES_DIST_HOME/.unpacked"
  fi
  if want_shim "$ES_DIST_HOME"; then build_shim; fi
  flock -u 9
  exec 9>&-   # do not leak the lock fd into the node started afterwards
  echo "$ES_DIST_HOME"
}

# The integ-test zip lacks analysis-common (which the .security-7 index needs) and rest-root (GET /).
# test-shim/src/.../TestShimPlugin.java fills both gaps; it is built once per version and added to
# each node's ES_HOME mirror by `start` (the unpacked cache stays pristine). It would clash with the
# real modules, so `auto` adds it only when both are absent.
want_shim() { # $1 = an ES home
  case "${FLEET_ES_SHIM:-auto}" in
    false|0|no) return 1 ;;
    true|1|yes) return 0 ;;
  esac
  [[ ! -d "$1/modules/analysis-common" && ! -d "$1/modules/rest-root" ]]
}

build_shim() {
  local src="$SCRIPT_DIR/test-shim/src/org/fleetserver/esshim/TestShimPlugin.java"
  [[ -f "$src" ]] || die "missing $src"
  local java_home stamp
  java_home="$(pick_java)"
  stamp="$VERSION $(sha1sum "$src" | awk '{print $1}')"
  if [[ -f "$SHIM_DIR/.stamp" && "$(cat "$SHIM_DIR/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  [[ -x "$java_home/bin/javac" ]] || die "no javac in $java_home (needed to build the test-shim module)"
  log "building the test-shim module for $VERSION with $java_home/bin/javac"
  local tmp="$CACHE_ROOT/.shim-build-$VERSION"
  rm -rf "$tmp"; mkdir -p "$tmp/classes" "$tmp/module"
  "$java_home/bin/javac" --release 17 -nowarn -Xlint:-options -d "$tmp/classes" \
    -cp "$ES_DIST_HOME/lib/*" "$src" >&2 || die "javac failed for the test-shim module"
  "$java_home/bin/jar" --create --file "$tmp/module/fleet-test-shim.jar" -C "$tmp/classes" . >&2
  cat > "$tmp/module/plugin-descriptor.properties" <<PROPS
description=Test-only stand-ins for analysis-common (pattern_capture, unique, uax_url_email) and rest-root (GET /), see deploy/elasticsearch
version=1.0
name=fleet-test-shim
classname=org.fleetserver.esshim.TestShimPlugin
java.version=17
elasticsearch.version=$VERSION
PROPS
  printf '%s' "$stamp" > "$tmp/module/.stamp"
  chmod -R a+rX "$tmp/module"
  rm -rf "$SHIM_DIR"; mkdir -p "$(dirname "$SHIM_DIR")"
  mv "$tmp/module" "$SHIM_DIR"; rm -rf "$tmp"
}

# ---------------------------------------------------------------------------------------------
# helpers for start
# ---------------------------------------------------------------------------------------------
java_major() { # $1 = JAVA_HOME
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

pick_java() {
  if [[ -n "${FLEET_ES_JAVA_HOME:-}" ]]; then
    [[ -x "$FLEET_ES_JAVA_HOME/bin/java" ]] || die "FLEET_ES_JAVA_HOME=$FLEET_ES_JAVA_HOME has no bin/java"
    echo "$FLEET_ES_JAVA_HOME"; return
  fi
  if [[ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
    echo /usr/lib/jvm/temurin-25-jdk-amd64; return
  fi
  local best="" best_v=0 d v
  for d in /usr/lib/jvm/*/ ${JAVA_HOME:+"$JAVA_HOME/"}; do
    d="${d%/}"
    [[ -x "$d/bin/java" && ! -L "$d" ]] || continue
    v="$(java_major "$d" 2>/dev/null || true)"; v="${v%%.*}"
    [[ "$v" =~ ^[0-9]+$ ]] || continue
    if (( v >= 17 && v > best_v )); then best="$d"; best_v="$v"; fi
  done
  [[ -n "$best" ]] || die "no JDK >= 17 found; set FLEET_ES_JAVA_HOME"
  echo "$best"
}

# Elasticsearch refuses to run as root. When we are root, run the node as an unprivileged
# system user (created on demand). Prints "uid:gid" of the user to run as ("" = current user).
ensure_run_user() {
  if [[ "$(id -u)" != 0 ]]; then echo ""; return; fi
  if ! id -u "$RUN_AS_USER" >/dev/null 2>&1; then
    command -v useradd >/dev/null 2>&1 || die "Elasticsearch refuses to run as root and useradd is missing; set FLEET_ES_RUN_AS to an existing user"
    log "creating system user $RUN_AS_USER (Elasticsearch refuses to run as root)"
    # concurrent starts may race here; re-check after a failure
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$RUN_AS_USER" 2>/dev/null \
      || id -u "$RUN_AS_USER" >/dev/null 2>&1 \
      || die "useradd $RUN_AS_USER failed"
  fi
  [[ "$(id -u "$RUN_AS_USER")" != 0 ]] || die "FLEET_ES_RUN_AS=$RUN_AS_USER is root"
  echo "$(id -u "$RUN_AS_USER"):$(id -g "$RUN_AS_USER")"
}

# how to drop privileges to "uid:gid" (setpriv from util-linux; runuser as a fallback)
set_priv_prefix() { # $1 = ug
  PRIV_PREFIX=()
  [[ -n "$1" ]] || return 0
  if command -v setpriv >/dev/null 2>&1; then
    PRIV_PREFIX=(setpriv --reuid="${1%%:*}" --regid="${1##*:}" --clear-groups --)
  elif command -v runuser >/dev/null 2>&1; then
    PRIV_PREFIX=(runuser -u "$RUN_AS_USER" --)
  else
    die "need setpriv or runuser to run Elasticsearch as $RUN_AS_USER"
  fi
}

# run a command as the node user (or directly when not root), with a clean environment
as_node_user() { # $1 = "uid:gid" or ""; rest = command
  local ug="$1"; shift
  if [[ -z "$ug" ]]; then
    "$@"
  else
    "${PRIV_PREFIX[@]}" "$@"
  fi
}

# can the node user read/traverse this path?
node_user_can_read() { # $1 = ug, $2 = path
  as_node_user "$1" test -r "$2" -a -x "$(dirname "$2")" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# TLS (FLEET_ES_TLS=true)
# ---------------------------------------------------------------------------------------------
# A throw-away CA in WORKDIR/tls, a node certificate for localhost/127.0.0.1 (copied into the node's
# config dir, where Elasticsearch reads its ssl files), and a client certificate from the same CA.
make_tls_files() { # $1 = workdir
  local tls="$1/tls" certs="$1/config/certs"
  command -v openssl >/dev/null 2>&1 || die "FLEET_ES_TLS=true needs the openssl CLI"
  mkdir -p "$tls" "$certs"
  chmod 0755 "$tls"
  ( umask 077
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
      -subj "/CN=fleet-es test CA $(date +%s)" -keyout "$tls/ca.key" -out "$tls/ca.crt" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    local name
    for name in node client; do
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -subj "/CN=fleet-es-$name" -keyout "$tls/$name.key" -out "$tls/$name.csr" 2>/dev/null
    done
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n' > "$tls/node.ext"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$tls/client.ext"
    for name in node client; do
      openssl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$tls/$name.ext" -out "$tls/$name.crt" 2>/dev/null
    done
    rm -f "$tls"/*.csr "$tls"/*.ext "$tls/ca.srl"
  ) || die "openssl failed to create the TLS files in $tls"
  chmod 0644 "$tls/ca.crt" "$tls/node.crt" "$tls/client.crt"
  # The node presents its chain (leaf, then CA), as Elasticsearch's own generated certificates do,
  # so a client can pin the CA by its fingerprint (ssl.ca_trusted_fingerprint).
  cp "$tls/ca.crt" "$tls/node.key" "$certs/"
  cat "$tls/node.crt" "$tls/ca.crt" > "$certs/node.crt"
}

# curl options that reach the node: its CA, and the client certificate when the node asks for one
curl_tls_args() { # $1 = workdir
  CURL_TLS=()
  [[ -s "$1/tls/ca.crt" ]] || return 0
  CURL_TLS=(--cacert "$1/tls/ca.crt" --cert "$1/tls/client.crt" --key "$1/tls/client.key")
}

# ---------------------------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------------------------
cmd_start() {
  local workdir="${1:-${FLEET_ES_WORKDIR:-}}"
  local resume="${RESUME:-false}"
  if [[ -z "$workdir" ]]; then
    workdir="$(mktemp -d "${TMPDIR:-/tmp}/fleet-es.XXXXXX")"
  fi
  mkdir -p "$workdir"
  workdir="$(cd "$workdir" && pwd -P)"
  if [[ -s "$workdir/run/es.pid" ]] && is_node_process "$(cat "$workdir/run/es.pid")" "$workdir"; then
    die "a node is already running from $workdir (pid $(cat "$workdir/run/es.pid")); stop it first"
  fi

  cmd_fetch >/dev/null
  local java_home java_v ug
  java_home="$(pick_java)"
  java_v="$(java_major "$java_home")"
  ug="$(ensure_run_user)"
  set_priv_prefix "$ug"

  local es_home="$workdir/es-home"
  if [[ "$resume" == true ]]; then
    [[ -s "$workdir/es.url" && -d "$workdir/data" ]] || die "nothing to resume in $workdir (start it first)"
  else
  # Fresh state every start.
  rm -rf "$workdir/config" "$workdir/data" "$workdir/logs" "$workdir/tmp" "$workdir/run" "$workdir/es-home" \
         "$workdir/es.env" "$workdir/es.url" "$workdir/elastic.password" "$workdir/service-token" \
         "$workdir/console.log" "$workdir/run/es.pid" "$workdir/launcher.pid" "$workdir/tls"
  mkdir -p "$workdir/config" "$workdir/data" "$workdir/logs" "$workdir/tmp" "$workdir/run"
  chmod 0711 "$workdir"   # root keeps the secrets here; the node user only needs to traverse

  # Each node gets its own ES_HOME: a hardlink mirror of the unpacked cache (a copy across
  # filesystems). The node user can read it even when the cache sits under /root (0700), and
  # extra modules (the test-shim) can be added without touching the cache.
  cp -al "$ES_DIST_HOME" "$es_home" 2>/dev/null || { rm -rf "$es_home"; cp -a "$ES_DIST_HOME" "$es_home"; }
  if want_shim "$es_home"; then
    [[ -f "$SHIM_DIR/.stamp" ]] || die "test-shim module not built (run: $0 fetch)"
    cp -a "$SHIM_DIR" "$es_home/modules/"
  fi
  fi
  if [[ -n "$ug" ]] && ! node_user_can_read "$ug" "$es_home/bin/elasticsearch"; then
    die "user $RUN_AS_USER cannot read $es_home; choose a work dir it can traverse (e.g. under /tmp)"
  fi

  local security="${FLEET_ES_SECURITY:-auto}"
  if [[ "$security" == auto ]]; then
    if [[ -d "$es_home/modules/x-pack-security" ]]; then security=true; else security=false; fi
  fi
  if [[ "$security" == true && ! -d "$es_home/modules/x-pack-security" ]]; then
    die "FLEET_ES_SECURITY=true but this distribution has no x-pack-security module"
  fi
  local tls="${FLEET_ES_TLS:-false}" client_auth="${FLEET_ES_TLS_CLIENT_AUTH:-optional}"
  if [[ "$resume" == true ]]; then
    if [[ -s "$workdir/tls/ca.crt" ]]; then tls=true; else tls=false; fi
  fi
  case "$tls" in true|1|yes) tls=true ;; *) tls=false ;; esac
  case "$client_auth" in none|optional|required) ;; *) die "FLEET_ES_TLS_CLIENT_AUTH must be none, optional or required" ;; esac
  if [[ "$tls" == true && "$security" != true ]]; then
    die "FLEET_ES_TLS=true needs security (xpack.security.http.ssl is part of x-pack-security)"
  fi

  local password=""
  if [[ "$resume" == true ]]; then
    # Same data, credentials and port as before the stop, so clients reconnect to the same URL.
    local old_port; old_port="$(sed -E 's#.*:([0-9]+)$#\1#' "$workdir/es.url")"
    sed -i -E "s/^http\.port: .*/http.port: $old_port/" "$workdir/config/elasticsearch.yml"
    rm -f "$workdir/logs/http.ports" "$workdir/run/es.pid" "$workdir/launcher.pid"
    if [[ "$security" == true ]]; then password="$(cat "$workdir/elastic.password")"; fi
  else
  local cluster_name; cluster_name="fleet-es-$(date +%s)-$$-$RANDOM"
  local port="${FLEET_ES_PORT:-0}"

  cp -a "$es_home/config/." "$workdir/config/"
  {
    echo "# generated by deploy/elasticsearch/es-node.sh"
    echo "cluster.name: $cluster_name"
    echo "node.name: fleet-es-node"
    echo "path.data: $workdir/data"
    echo "path.logs: $workdir/logs"
    echo "network.host: 127.0.0.1"
    echo "http.port: $port"
    echo "transport.port: 0"
    echo "node.portsfile: true"       # writes logs/http.ports with the bound address
    echo "discovery.type: single-node"
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    echo "action.destructive_requires_name: false"
    if [[ -d "$es_home/modules/x-pack-ml" ]]; then echo "xpack.ml.enabled: false"; fi
    if [[ -d "$es_home/modules/ingest-geoip" ]]; then echo "ingest.geoip.downloader.enabled: false"; fi
    # vm.max_map_count below 262144 is only a (non-enforced, loopback) bootstrap check, but mmap-ing
    # many Lucene files could then fail; avoid mmap entirely in that case.
    local mmc; mmc="$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0)"
    case "${FLEET_ES_ALLOW_MMAP:-auto}" in
      true)  ;;
      false) echo "node.store.allow_mmap: false" ;;
      *)     if (( mmc < 262144 )); then echo "node.store.allow_mmap: false"; fi ;;
    esac
    if [[ "$security" == true ]]; then
      echo "xpack.security.enabled: true"
      if [[ "$tls" == true ]]; then
        echo "xpack.security.http.ssl.enabled: true"
        echo "xpack.security.http.ssl.key: certs/node.key"
        echo "xpack.security.http.ssl.certificate: certs/node.crt"
        echo "xpack.security.http.ssl.certificate_authorities: [ \"certs/ca.crt\" ]"
        echo "xpack.security.http.ssl.client_authentication: $client_auth"
      else
      echo "xpack.security.http.ssl.enabled: false"
      fi
      echo "xpack.security.transport.ssl.enabled: false"
      echo "xpack.security.authc.api_key.enabled: true"
    elif [[ -d "$es_home/modules/x-pack-security" ]]; then
      echo "xpack.security.enabled: false"
    fi
  } > "$workdir/config/elasticsearch.yml"
  # The distribution's jvm.options writes a GC log (rotating up to 32 x 64 MB) into logs/; turn JVM
  # unified logging off and keep only JVM warnings on stderr (-> console.log).
  printf -- '-Xlog:disable\n-Xlog:all=warning:stderr:utctime,level,tags\n' > "$workdir/config/jvm.options.d/fleet-es.options"

  if [[ "$tls" == true ]]; then make_tls_files "$workdir"; fi

  if [[ "$security" == true ]]; then
    password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)"
    (umask 077; printf '%s' "$password" > "$workdir/elastic.password")
  fi
  fi

  if [[ -n "$ug" ]]; then
    chown -R "$ug" "$workdir/config" "$workdir/data" "$workdir/logs" "$workdir/tmp" "$workdir/run"
  fi
  chmod 0700 "$workdir/config" "$workdir/data" "$workdir/logs" "$workdir/tmp" "$workdir/run"

  local -a node_env=(env -i
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    "HOME=$workdir/tmp" "LANG=C.UTF-8"
    "ES_HOME=$es_home" "ES_PATH_CONF=$workdir/config" "ES_JAVA_HOME=$java_home"
    "ES_TMPDIR=$workdir/tmp" "ES_JAVA_OPTS=-Xms$HEAP -Xmx$HEAP${FLEET_ES_JAVA_OPTS:+ $FLEET_ES_JAVA_OPTS}")

  if [[ "$security" == true && "$resume" != true ]]; then
    # `add -f` creates the (unprotected) keystore when missing: one JVM launch instead of two
    printf '%s' "$password" | as_node_user "$ug" "${node_env[@]}" \
      "$es_home/bin/elasticsearch-keystore" add -x -f -s bootstrap.password >&2 \
      || die "elasticsearch-keystore add bootstrap.password failed"
  fi

  log "starting Elasticsearch $VERSION (java $java_v at $java_home, security=$security, heap=$HEAP${ug:+, as $RUN_AS_USER}) in $workdir"
  local t0; t0="$(date +%s.%N)"
  # setsid: own process group, so the node survives the caller's shell and can be stopped as a group
  ( cd "$workdir/tmp" && exec setsid "${PRIV_PREFIX[@]}" "${node_env[@]}" \
      "$es_home/bin/elasticsearch" -p "$workdir/run/es.pid" \
      </dev/null >"$workdir/console.log" 2>&1 ) &
  local launcher=$!
  echo "$launcher" > "$workdir/launcher.pid"

  # wait for the ports file, then green
  local deadline=$(( $(date +%s) + START_TIMEOUT )) url="" health="" scheme=http
  local -a auth=()
  [[ "$security" == true ]] && auth=(-u "elastic:$password")
  [[ "$tls" == true ]] && scheme=https
  curl_tls_args "$workdir"
  auth+=("${CURL_TLS[@]}")
  while :; do
    if ! kill -0 "$launcher" 2>/dev/null; then
      log "node exited during startup; last log lines:"; tail -n 40 "$workdir/console.log" >&2 || true
      rm -f "$workdir/run/es.pid" "$workdir/launcher.pid"
      exit 1
    fi
    if [[ -z "$url" && -s "$workdir/logs/http.ports" ]]; then
      url="$scheme://$(head -n1 "$workdir/logs/http.ports")"
    fi
    if [[ -n "$url" ]]; then
      health="$(curl -sS --max-time 10 "${auth[@]}" \
        "$url/_cluster/health?wait_for_status=green&timeout=5s" 2>/dev/null || true)"
      if [[ "$health" == *'"status":"green"'* ]]; then break; fi
    fi
    if (( $(date +%s) >= deadline )); then
      log "node not green after ${START_TIMEOUT}s (url=${url:-unknown}, last health=${health:-none}); last log lines:"
      tail -n 40 "$workdir/console.log" >&2 || true
      cmd_stop "$workdir" >/dev/null 2>&1 || true
      exit 1
    fi
    sleep 0.5
  done
  local t1; t1="$(date +%s.%N)"
  (umask 077; printf '%s' "$url" > "$workdir/es.url")

  local token=""
  if [[ "$security" == true && "$resume" == true ]]; then
    token="$(cat "$workdir/service-token")"
  elif [[ "$security" == true ]]; then
    local resp
    # index-backed token (stored in .security-7, needs the test-shim module, see README.md)
    resp="$(curl -sS --max-time 30 "${auth[@]}" -X POST \
      "$url/_security/service/elastic/fleet-server/credential/token/$SERVICE_TOKEN_NAME" || true)"
    token="$(printf '%s' "$resp" | json_get "d['token']['value']" 2>/dev/null || true)"
    if [[ -z "$token" ]]; then
      # fall back to a file-backed token (config/service_tokens, hot-reloaded by the node)
      log "service token API failed ($resp); creating a file-backed token instead"
      local out
      out="$(as_node_user "$ug" "${node_env[@]}" "$es_home/bin/elasticsearch-service-tokens" \
        create elastic/fleet-server "$SERVICE_TOKEN_NAME" 2>&1)" || die "elasticsearch-service-tokens failed: $out"
      token="$(printf '%s\n' "$out" | sed -n 's/^SERVICE_TOKEN elastic\/fleet-server\/[^ ]* = //p')"
      [[ -n "$token" ]] || die "could not parse elasticsearch-service-tokens output: $out"
      # wait until the file realm picked it up (resource watcher runs every 5 s)
      local _
      for _ in $(seq 1 40); do
        curl -sS -o /dev/null --fail --max-time 5 "${CURL_TLS[@]}" -H "Authorization: Bearer $token" \
          "$url/_security/_authenticate" 2>/dev/null && break
        sleep 0.5
      done
    fi
    (umask 077; printf '%s' "$token" > "$workdir/service-token")
  fi

  (umask 077; {
    echo "FLEET_ES_URL=$url"
    echo "FLEET_ES_VERSION=$VERSION"
    echo "FLEET_ES_WORKDIR=$workdir"
    echo "FLEET_ES_PID=$(cat "$workdir/run/es.pid" 2>/dev/null || true)"
    echo "FLEET_ES_SECURITY=$security"
    if [[ "$security" == true ]]; then
      echo "FLEET_ES_USERNAME=elastic"
      echo "FLEET_ES_PASSWORD_FILE=$workdir/elastic.password"
      echo "FLEET_ES_SERVICE_TOKEN_FILE=$workdir/service-token"
    fi
    if [[ "$tls" == true ]]; then
      echo "FLEET_ES_TLS=true"
      echo "FLEET_ES_TLS_CLIENT_AUTH=$client_auth"
      echo "FLEET_ES_CA_FILE=$workdir/tls/ca.crt"
      echo "FLEET_ES_SSL_CA_FILE=$workdir/tls/ca.crt"
      echo "FLEET_ES_CA_SHA256=$(openssl x509 -in "$workdir/tls/ca.crt" -noout -fingerprint -sha256 | sed 's/^.*=//; s/://g' | tr 'A-F' 'a-f')"
      echo "FLEET_ES_SSL_CERT_FILE=$workdir/tls/client.crt"
      echo "FLEET_ES_SSL_KEY_FILE=$workdir/tls/client.key"
    fi
  } > "$workdir/es.env")
  log "green at $url after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s (pid $(cat "$workdir/run/es.pid" 2>/dev/null || echo '?'))"
  echo "$workdir/es.env"
}

# ---------------------------------------------------------------------------------------------
# stop / status
# ---------------------------------------------------------------------------------------------
resolve_workdir() {
  local workdir="${1:-${FLEET_ES_WORKDIR:-}}"
  [[ -n "$workdir" ]] || die "work dir required (argument or FLEET_ES_WORKDIR)"
  [[ -d "$workdir" ]] || die "no such work dir: $workdir"
  (cd "$workdir" && pwd -P)
}

is_node_process() { # $1 = pid, $2 = workdir
  tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF "$2/es-home/"
}

cmd_stop() {
  local workdir; workdir="$(resolve_workdir "${1:-}")"
  local pid="" launcher=""
  [[ -s "$workdir/run/es.pid" ]] && pid="$(cat "$workdir/run/es.pid")"
  [[ -s "$workdir/launcher.pid" ]] && launcher="$(cat "$workdir/launcher.pid")"
  local -a pids=()
  local p
  for p in $pid $launcher; do
    # guard against a stale pid file whose pid now belongs to something else
    if kill -0 "$p" 2>/dev/null && is_node_process "$p" "$workdir"; then pids+=("$p"); fi
  done
  if (( ${#pids[@]} == 0 )); then
    log "no running node in $workdir"
    rm -f "$workdir/run/es.pid" "$workdir/launcher.pid"
    return 0
  fi
  log "stopping node (pids ${pids[*]})"
  # SIGTERM the server JVM first (graceful shutdown), then the CLI launcher
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$(( $(date +%s) + STOP_TIMEOUT )) alive
  while :; do
    alive=()
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    (( ${#alive[@]} == 0 )) && break
    if (( $(date +%s) >= deadline )); then
      log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL to ${alive[*]}"
      kill -KILL "${alive[@]}" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  rm -f "$workdir/run/es.pid" "$workdir/launcher.pid"
  log "stopped"
}

cmd_status() {
  local workdir; workdir="$(resolve_workdir "${1:-}")"
  [[ -s "$workdir/es.url" ]] || die "node in $workdir never became ready (no es.url)"
  local url; url="$(cat "$workdir/es.url")"
  local -a auth=()
  [[ -s "$workdir/elastic.password" ]] && auth=(-u "elastic:$(cat "$workdir/elastic.password")")
  curl_tls_args "$workdir"
  auth+=("${CURL_TLS[@]}")
  curl -sS --fail --max-time 10 "${auth[@]}" "$url/_cluster/health?pretty" || die "node at $url not reachable"
}

cmd_clean() {
  local workdir; workdir="$(resolve_workdir "${1:-}")"
  cmd_stop "$workdir"
  [[ "$workdir" != / ]] || die "refusing to remove /"
  [[ -f "$workdir/es.env" || -d "$workdir/es-home" ]] || die "$workdir does not look like an es-node.sh work dir; not removing"
  rm -rf "$workdir"
  log "removed $workdir"
}

cmd_env() {
  local workdir; workdir="$(resolve_workdir "${1:-}")"
  [[ -s "$workdir/es.env" ]] || die "no es.env in $workdir"
  echo "$workdir/es.env"
}

# Sourced (by es-cluster.sh, for the helpers above): define only, run nothing.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

case "${1:-}" in
  fetch)  shift; cmd_fetch "$@" ;;
  start)  shift; cmd_start "$@" ;;
  resume) shift; RESUME=true cmd_start "$@" ;;
  stop)   shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  env)    shift; cmd_env "$@" ;;
  clean)  shift; cmd_clean "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
