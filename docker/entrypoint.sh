#!/bin/sh
# Entrypoint of the image (and of the `bitrix24-webhook-guard` command on its PATH). Platforms such as Railway
# mount volumes owned by root, while the service runs as the unprivileged `node` user: started as root, this
# script gives DATA_DIR to that user, then runs the command as that user (setpriv, util-linux, part of every
# Debian image). Started as any other user (`docker run --user`, Kubernetes runAsNonRoot), it checks that
# DATA_DIR is writable and, when it is not, says what to do instead of letting SQLite fail later.
set -eu
run_as=node
data_dir="${DATA_DIR:-/app/data}"

uses_data_dir() {
  [ -z "${DATABASE_URL:-}" ] && [ "${STORE:-}" != none ]
}

if [ "$(id -u)" = 0 ]; then
  if uses_data_dir; then
    mkdir -p "$data_dir"
    # Recursive: files a command run as root left behind (an older image, a shell) must be writable too.
    chown -R "$run_as:" "$data_dir"
  fi
  exec setpriv --reuid="$run_as" --regid="$(id -g "$run_as")" --clear-groups -- "$@"
fi

if uses_data_dir && ! { mkdir -p "$data_dir" 2>/dev/null && [ -w "$data_dir" ] && [ -x "$data_dir" ]; }; then
  echo "bitrix24-webhook-guard: DATA_DIR=$data_dir is not writable by uid $(id -u); the SQLite store cannot be kept there." >&2
  echo "Do one of: start the container as root (the image's default: it gives the directory to '$run_as' and drops to it)," >&2
  echo "or make the volume writable by uid $(id -u) (e.g. Kubernetes securityContext.fsGroup: $(id -g)), or set DATABASE_URL (PostgreSQL)." >&2
  exit 1
fi
exec "$@"
