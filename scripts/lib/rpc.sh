# scripts/lib/rpc.sh: buf curl helpers shared by scripts/demo and
# scripts/compose-smoke.
#
# Set these variables before sourcing it:
#   buf    the buf binary           token  the bearer token
#   py     python3                  out, err  files for the last response
#   url    http://HOST:PORT         svc    the fully qualified service name
# It defines step, ok and fail for readable output, and call, callq, refuse,
# field and expect around buf curl.

if [[ -t 1 ]]; then
    bold=$'\e[1m' green=$'\e[32m' red=$'\e[31m' dim=$'\e[2m' off=$'\e[0m'
else
    bold='' green='' red='' dim='' off=''
fi
n_step=0
step() {
    n_step=$((n_step + 1))
    printf '\n%s== %d. %s%s\n' "$bold" "$n_step" "$1" "$off"
}
ok() { printf '%s   ok: %s%s\n' "$green" "$1" "$off"; }
fail() {
    printf '%s   FAILED: %s%s\n' "$red" "$1" "$off" >&2
    exit 1
}

# call METHOD ACTOR JSON: prints the request and the response; the response is
# left in $out. ACTOR "-" sends no x-roster-actor.
call() {
    local method=$1 actor=$2 body=$3
    local hdr=(-H "authorization: Bearer $token")
    [[ $actor == - ]] || hdr+=(-H "x-roster-actor: $actor")
    printf '%s   > %s %s%s\n' "$dim" "$method" "$body" "$off"
    if ! "$buf" curl --protocol grpc --http2-prior-knowledge "${hdr[@]}" \
        -d "$body" "$url/$svc/$method" >"$out" 2>"$err"; then
        cat "$err" >&2
        fail "$method was refused"
    fi
    if ((${quiet:-0})); then
        printf '%s   < %s bytes (not shown)%s\n' "$dim" "$(wc -c <"$out")" "$off"
    else
        sed 's/^/   /' "$out"
    fi
}

# callq METHOD ACTOR JSON: call without printing the response.
callq() { quiet=1 call "$@"; }

# refuse METHOD ACTOR JSON CODE REASON: the call must fail with that gRPC
# code (buf's lower-case name) and ErrorInfo reason.
refuse() {
    local method=$1 actor=$2 body=$3 want_code=$4 want_reason=$5 got
    printf '%s   > %s %s%s\n' "$dim" "$method" "$body" "$off"
    if "$buf" curl --protocol grpc --http2-prior-knowledge \
        -H "authorization: Bearer $token" -H "x-roster-actor: $actor" \
        -d "$body" "$url/$svc/$method" >"$out" 2>"$err"; then
        cat "$out"
        fail "$method succeeded; expected $want_code $want_reason"
    fi
    got=$("$py" - "$err" <<'PY'
import base64, json, sys

def varint(raw, i):
    """Decodes the protobuf varint at raw[i]; returns (value, next index)."""
    value = shift = 0
    while True:
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def error_info_reason(raw):
    """Returns field 1 (reason) of a serialized google.rpc.ErrorInfo, whose
    fields are all length-delimited."""
    i = 0
    while i < len(raw):
        key, i = varint(raw, i)
        if key & 7 != 2:
            return ""
        size, i = varint(raw, i)
        if key >> 3 == 1:
            return raw[i:i + size].decode()
        i += size
    return ""


e = json.load(open(sys.argv[1]))
reason = ""
for d in e.get("details", []):
    if d.get("type") == "google.rpc.ErrorInfo":
        v = d["value"]
        reason = error_info_reason(base64.b64decode(v + "=" * (-len(v) % 4)))
print(e.get("code", ""), reason, "|", e.get("message", ""))
PY
) || { cat "$err" >&2; fail "could not read the refusal"; }
    printf '   refused: code=%s reason=%s message: %s\n' \
        "${got%% *}" "$(echo "$got" | cut -d' ' -f2)" "${got#*| }"
    [[ "${got%% |*}" == "$want_code $want_reason" ]] ||
        fail "expected $want_code $want_reason, got ${got%% |*}"
    ok "refused with $want_code $want_reason"
}

# field PATH: prints a field of the last response (dotted path, list indexes).
field() {
    "$py" - "$out" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[int(k)] if isinstance(d, list) else d.get(k, "")
print(json.dumps(d, ensure_ascii=False) if isinstance(d, (dict, list)) else d)
PY
}

# expect PYTHON_EXPR WHAT: checks the last response, bound to "d".
expect() {
    "$py" - "$out" "$1" <<'PY' || fail "$2"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
    ok "$2"
}
