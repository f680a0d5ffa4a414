#!/bin/bash
# The workspace container's entrypoint (root): make the person's account match the host, keep
# sshd's host keys in /state, then hand over to supervisord.
#
# Environment (set by `ts-docker compose`):
#   WORKSPACE_USER    login name                    WORKSPACE_UID / WORKSPACE_GID  host uid / primary gid
#   WORKSPACE_GROUPS  "name:gid,name:gid" supplementary groups that must exist inside
#   PASSWORD, JUPYTER_TOKEN, VNC_PASSWORD           from /etc/trainserver/secrets/workspace-<user>.env
# Mounts: /home/<user> (the host home: never populated from /etc/skel, never chowned here),
#   /workspace, /state (sshd host keys), /tensorboard, the shared caches.
# Runs again on every container start, so each step is idempotent.
set -euo pipefail

die() { echo "workspace-entrypoint: $*" >&2; exit 2; }

user="${WORKSPACE_USER:-}"
uid="${WORKSPACE_UID:-}"
gid="${WORKSPACE_GID:-}"
[[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "WORKSPACE_USER '$user' is not a valid login name"
[[ "$uid" =~ ^[0-9]+$ && "$uid" -ge 1000 ]] || die "WORKSPACE_UID '$uid' must be a number >= 1000"
[[ "$gid" =~ ^[0-9]+$ && "$gid" -ge 1 ]] || die "WORKSPACE_GID '$gid' must be a positive number"
[[ "$user" != root ]] || die "WORKSPACE_USER must not be root"
home="/home/$user"

# A group called NAME with GID: rename nothing the image relies on, just make the gid carry the
# name (-o: the image may already use that gid, e.g. docker's group in the full flavour).
ensure_group() {
    local name="$1" want="$2" have
    have="$(getent group "$name" | cut -d: -f3 || true)"
    if [[ -z "$have" ]]; then
        groupadd -o -g "$want" "$name"
    elif [[ "$have" != "$want" ]]; then
        groupmod -o -g "$want" "$name"
    fi
}

supplementary=()
if [[ -n "${WORKSPACE_GROUPS:-}" ]]; then
    IFS=, read -r -a pairs <<< "$WORKSPACE_GROUPS"
    for pair in "${pairs[@]}"; do
        [[ "$pair" =~ ^([a-z_][a-z0-9_-]{0,31}):([0-9]+)$ ]] \
            || die "WORKSPACE_GROUPS entry '$pair' is not name:gid"
        ensure_group "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        supplementary+=("${BASH_REMATCH[1]}")
    done
fi

primary="$(getent group "$gid" | cut -d: -f1 || true)"
if [[ -z "$primary" ]]; then
    primary="$user"
    getent group "$primary" >/dev/null && primary="$user-$gid"
    groupadd -g "$gid" "$primary"
fi

groups_csv="$(IFS=,; echo "${supplementary[*]}")"
current="$(getent passwd "$user" | cut -d: -f3,4 || true)"
if [[ -n "$current" && "$current" != "$uid:$gid" ]]; then
    # usermod -u would chown the whole home; recreating the entry touches no file.
    userdel "$user"
    current=""
fi
if [[ -z "$current" ]]; then
    # -M: no home is created and /etc/skel is never copied. -p '*': no password, but not a
    # locked account ("!"), which sshd would refuse even for key logins.
    useradd -o -M -d "$home" -s /bin/bash -u "$uid" -g "$gid" ${groups_csv:+-G "$groups_csv"} \
        -p '*' "$user"
else
    usermod -G "$groups_csv" "$user"
fi

# The home is the host's directory; only when nothing was mounted is an empty one made.
if [[ ! -d "$home" ]]; then
    install -d -m 0750 -o "$uid" -g "$gid" "$home"
fi

keys=/state/ssh-host-keys
install -d -m 0700 -o root -g root "$keys"
for type in ed25519 ecdsa rsa; do
    if [[ ! -s "$keys/ssh_host_${type}_key" ]]; then
        rm -f "$keys/ssh_host_${type}_key" "$keys/ssh_host_${type}_key.pub"
        ssh-keygen -q -t "$type" -N '' -C "$user-workspace" -f "$keys/ssh_host_${type}_key"
    fi
done
install -d -m 0755 /run/sshd

# SSH sessions do not inherit the container's environment; pam_env gives them the shared
# caches' variables (from /etc/trainserver/caches.env, passed as env_file) through
# /etc/environment. Rewritten on each start, so a changed cache list takes effect.
: > /etc/environment
for name in PIP_CACHE_DIR CONDA_PKGS_DIRS HF_HOME TORCH_HOME GOMODCACHE GOCACHE npm_config_cache \
            CARGO_HOME TRAINSERVER_BUILD_CACHE; do
    if [[ -n "${!name:-}" ]]; then
        printf '%s=%s\n' "$name" "${!name}" >> /etc/environment
    fi
done

# Full flavour only (TigerVNC present): the VNC password and the desktop's runtime directory,
# kept in /run rather than in the home, so nothing of the container lands on the host.
vncpasswd="$(command -v tigervncpasswd || command -v vncpasswd || true)"
if [[ -n "$vncpasswd" ]]; then
    [[ -n "${VNC_PASSWORD:-}" ]] || die "VNC_PASSWORD is empty: the desktop would be open to anyone"
    install -d -m 0755 /run/workspace
    install -d -m 0700 -o "$uid" -g "$gid" /run/workspace/xdg
    (umask 077; printf '%s\n' "$VNC_PASSWORD" | "$vncpasswd" -f > /run/workspace/vnc.passwd)
    chown "$uid:$gid" /run/workspace/vnc.passwd
fi

exec /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf
