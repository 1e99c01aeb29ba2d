#!/usr/bin/env bash
# revoke.sh: revoke certificates of a PKI made by make-dev-pki.sh and rewrite
# its CRL (ca.crl and crl/<hash>.r0). See README.md next to this script.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: revoke.sh [--reason REASON] [--crl-days N] PKI_DIR CERT...

Revoke each CERT (PEM, issued by PKI_DIR/ca.crt) and write a new CRL signed
with PKI_DIR/ca.key that lists every certificate the current PKI_DIR/ca.crl
lists plus the new ones, with the next CRL number. The CRL replaces
PKI_DIR/ca.crl and PKI_DIR/crl/<issuer-hash>.r0, each by an atomic rename, so
a gatewayd reading the directory never sees half a file. Then send SIGHUP to
gatewayd (its [tls] crl_dir) to refuse the revoked certificates from then on.

A certificate already listed is left as it is. The current ca.crl, if any,
must verify against ca.crt, otherwise nothing is written.

Options:
  --reason R     CRL reason: unspecified, keyCompromise (default),
                 CACompromise, affiliationChanged, superseded,
                 cessationOfOperation, certificateHold
  --crl-days N   validity of the new CRL in days (default 30)
  -h, --help     print this help
EOF
}

reason=keyCompromise
days=30
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --reason) [ $# -ge 2 ] || { usage >&2; exit 2; }; reason="$2"; shift ;;
        --crl-days) [ $# -ge 2 ] || { usage >&2; exit 2; }; days="$2"; shift ;;
        --) shift; args+=("$@"); break ;;
        -*) echo "revoke.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
        *) args+=("$1") ;;
    esac
    shift
done
[ ${#args[@]} -ge 2 ] || { usage >&2; exit 2; }
case "$days" in ''|*[!0-9]*) echo "revoke.sh: --crl-days needs a number" >&2; exit 2 ;; esac
case "$reason" in
    unspecified|keyCompromise|CACompromise|affiliationChanged|superseded|cessationOfOperation|certificateHold) ;;
    *) echo "revoke.sh: unknown reason: $reason" >&2; exit 2 ;;
esac

pki="${args[0]}"
certs=("${args[@]:1}")
command -v openssl >/dev/null || { echo "revoke.sh: openssl not found" >&2; exit 1; }
for f in "$pki/ca.crt" "$pki/ca.key"; do
    [ -r "$f" ] || { echo "revoke.sh: cannot read $f" >&2; exit 1; }
done
for c in "${certs[@]}"; do
    [ -r "$c" ] || { echo "revoke.sh: cannot read $c" >&2; exit 1; }
done

umask 077
exec </dev/null
tmp="$(mktemp -d "${TMPDIR:-/tmp}/revoke.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

cnf="$tmp/openssl.cnf"
export OPENSSL_CONF="$cnf"
unset RANDFILE OPENSSL_ENGINES SSL_CERT_FILE SSL_CERT_DIR 2>/dev/null || true
mkdir -p "$tmp/db/newcerts"
: >"$tmp/db/index.txt"
echo "unique_subject = no" >"$tmp/db/index.txt.attr"
cat >"$cnf" <<EOF
# Throwaway config written by revoke.sh.
[ ca ]
default_ca = ca_dev

[ ca_dev ]
dir              = $tmp/db
database         = $tmp/db/index.txt
new_certs_dir    = $tmp/db/newcerts
crlnumber        = $tmp/db/crlnumber
certificate      = $pki/ca.crt
private_key      = $pki/ca.key
default_md       = sha256
default_crl_days = $days
unique_subject   = no
crl_extensions   = crl_ext

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF

log="$tmp/log"
run() {
    if ! "$@" >"$log" 2>&1; then
        echo "revoke.sh: command failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

# --- the CA database, rebuilt from the current CRL -----------------------------
reason_keyword() { # text of "X509v3 CRL Reason Code" -> openssl ca keyword
    case "$1" in
        "Key Compromise") echo keyCompromise ;;
        "CA Compromise") echo CACompromise ;;
        "Affiliation Changed") echo affiliationChanged ;;
        "Superseded") echo superseded ;;
        "Cessation Of Operation") echo cessationOfOperation ;;
        "Certificate Hold") echo certificateHold ;;
        *) echo unspecified ;;
    esac
}

crlnum=1
if [ -e "$pki/ca.crl" ]; then
    if ! openssl crl -in "$pki/ca.crl" -CAfile "$pki/ca.crt" -noout >"$log" 2>&1; then
        echo "revoke.sh: $pki/ca.crl does not verify against $pki/ca.crt; nothing written" >&2
        cat "$log" >&2
        exit 1
    fi
    n="$(openssl crl -in "$pki/ca.crl" -noout -crlnumber | sed -n 's/^crlNumber=//p')"
    [ -n "$n" ] && crlnum=$(( n + 1 ))
    # "Serial Number: HEX" / "Revocation Date: DATE" / optional reason lines
    serial="" rdate="" rreason=""
    flush() {
        [ -n "$serial" ] || return 0
        local d
        d="$(date -u -d "$rdate" +%y%m%d%H%M%SZ)"
        printf 'R\t491231235959Z\t%s,%s\t%s\tunknown\t/CN=revoked %s\n' \
            "$d" "$(reason_keyword "$rreason")" "$serial" "$serial" >>"$tmp/db/index.txt"
        serial="" rdate="" rreason=""
    }
    want_reason=0
    while IFS= read -r line; do
        t="$(printf '%s' "$line" | sed 's/^ *//; s/ *$//')"
        case "$t" in
            "Serial Number: "*) flush; serial="${t#Serial Number: }" ;;
            "Revocation Date: "*) rdate="${t#Revocation Date: }" ;;
            "X509v3 CRL Reason Code:"*) want_reason=1; continue ;;
            "Signature Algorithm:"*) [ -n "$rdate" ] && flush ;;
            *) [ "$want_reason" -eq 1 ] && rreason="$t" ;;
        esac
        want_reason=0
    done < <(openssl crl -in "$pki/ca.crl" -noout -text)
    flush
    # odd-length serials are not accepted in index.txt
    awk 'BEGIN{FS=OFS="\t"} { if (length($4) % 2) $4 = "0" $4; print }' "$tmp/db/index.txt" >"$tmp/db/index.fixed"
    mv "$tmp/db/index.fixed" "$tmp/db/index.txt"
fi
h="$(printf '%X' "$crlnum")"
[ $(( ${#h} % 2 )) -eq 0 ] || h="0$h" # openssl wants whole bytes
echo "$h" >"$tmp/db/crlnumber"

# --- revoke ----------------------------------------------------------------------
ca_hash="$(openssl x509 -in "$pki/ca.crt" -noout -hash)"
added=0
for c in "${certs[@]}"; do
    if ! openssl verify -no-CApath -no-CAstore -CAfile "$pki/ca.crt" -no_check_time "$c" >"$log" 2>&1; then
        echo "revoke.sh: $c is not a certificate issued by $pki/ca.crt" >&2
        cat "$log" >&2
        exit 1
    fi
    s="$(openssl x509 -in "$c" -noout -serial | sed 's/^serial=//')"
    [ $(( ${#s} % 2 )) -eq 0 ] || s="0$s"
    if cut -f4 "$tmp/db/index.txt" | grep -qix -- "$s"; then
        echo "revoke.sh: $c (serial $s) is already revoked"
        continue
    fi
    run openssl ca -config "$cnf" -name ca_dev -batch -revoke "$c" -crl_reason "$reason"
    echo "revoke.sh: revoked $c (serial $s, $reason)"
    added=$((added + 1))
done

# --- the new CRL -----------------------------------------------------------------
run openssl ca -config "$cnf" -name ca_dev -batch -gencrl -crldays "$days" -out "$tmp/ca.crl"
run openssl crl -in "$tmp/ca.crl" -CAfile "$pki/ca.crt" -noout
[ "$(openssl crl -in "$tmp/ca.crl" -noout -hash)" = "$ca_hash" ] || {
    echo "revoke.sh: the new CRL's issuer hash differs from ca.crt's" >&2; exit 1; }

mkdir -p -- "$pki/crl"
install -m 0644 "$tmp/ca.crl" "$pki/.ca.crl.tmp"
mv -f -- "$pki/.ca.crl.tmp" "$pki/ca.crl"
install -m 0644 "$tmp/ca.crl" "$pki/crl/.$ca_hash.r0.tmp"
mv -f -- "$pki/crl/.$ca_hash.r0.tmp" "$pki/crl/$ca_hash.r0"
total="$(grep -c '^R' "$tmp/db/index.txt" || true)"
echo "revoke.sh: wrote $pki/ca.crl and $pki/crl/$ca_hash.r0 (CRL number $crlnum, $total revoked, $added new, next update in $days days)"
