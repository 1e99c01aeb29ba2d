#!/usr/bin/env bash
# make-dev-pki.sh: make the development PKI for the JJJ carbon settlement
# gateways (DESIGN.md section 5). Everything is ECDSA P-256 / SHA-256 and
# made with the openssl(1) CLI of OpenSSL 3.0. Development use only; see
# README.md next to this script for how production PKI differs.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: make-dev-pki.sh [--force] OUTDIR

Make a development PKI in OUTDIR (created if missing):
  ca.crt ca.key ca.crl crl/<hash>.r0   dev root CA "JJJ Carbon Dev CA", its CRL
  <R>-{gateway,registry,operator,auditor}.{crt,key}
                                       for R in CN-TJ CN-BJ CN-HE
  untrusted-ca, untrusted-registry, expired-registry, revoked-registry,
  two-uri-registry, wrong-domain-registry (.crt/.key)
                                       negative-test certificates

ca.crt is the trust bundle. Keys are PKCS#8 PEM, mode 0600.
Every certificate is checked at the end; the exit status is non-zero if any
expectation fails.

Options:
  --force    replace an existing PKI in OUTDIR (otherwise a non-empty OUTDIR
             is refused)
  -h, --help print this help
EOF
}

force=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        -f|--force) force=1 ;;
        --) shift
            if [ $# -ne 1 ] || [ -n "$out" ]; then usage >&2; exit 2; fi
            out="$1"; break ;;
        -*) echo "make-dev-pki.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
        *)  [ -z "$out" ] || { echo "make-dev-pki.sh: only one OUTDIR allowed" >&2; usage >&2; exit 2; }
            out="$1" ;;
    esac
    shift
done
[ -n "$out" ] || { usage >&2; exit 2; }

command -v openssl >/dev/null || { echo "make-dev-pki.sh: openssl not found" >&2; exit 1; }

if [ -e "$out" ] && [ ! -d "$out" ]; then
    echo "make-dev-pki.sh: $out exists and is not a directory" >&2; exit 1
fi
if [ -d "$out" ] && [ -n "$(ls -A -- "$out")" ] && [ "$force" -ne 1 ]; then
    echo "make-dev-pki.sh: $out is not empty; use --force to replace the PKI in it" >&2
    exit 1
fi

umask 077
exec </dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/make-dev-pki.XXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

# Never read the system openssl.cnf, ~/.rnd or anything global.
cnf="$tmp/openssl.cnf"
export OPENSSL_CONF="$cnf"
unset RANDFILE OPENSSL_ENGINES SSL_CERT_FILE SSL_CERT_DIR 2>/dev/null || true

stage="$tmp/out"
mkdir -p "$stage/crl" "$tmp/ca-dev/newcerts" "$tmp/ca-untrusted/newcerts" "$tmp/ext"
for d in ca-dev ca-untrusted; do
    : >"$tmp/$d/index.txt"
    echo "unique_subject = no" >"$tmp/$d/index.txt.attr"
    echo 01 >"$tmp/$d/crlnumber"
done

ca_section() { # name dir cert key
    cat <<EOF
[ $1 ]
dir              = $2
database         = $2/index.txt
new_certs_dir    = $2/newcerts
crlnumber        = $2/crlnumber
certificate      = $3
private_key      = $4
rand_serial      = yes
default_md       = sha256
default_days     = 730
default_crl_days = 30
policy           = policy_any
unique_subject   = no
preserve         = yes
email_in_dn      = no
copy_extensions  = none
crl_extensions   = crl_ext

EOF
}

{
    cat <<'EOF'
# Throwaway config written by make-dev-pki.sh.
[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes

[ req_dn ]

[ v3_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ policy_any ]
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ crl_ext ]
authorityKeyIdentifier = keyid:always

EOF
    ca_section ca_dev       "$tmp/ca-dev"       "$stage/ca.crt"           "$stage/ca.key"
    ca_section ca_untrusted "$tmp/ca-untrusted" "$stage/untrusted-ca.crt" "$stage/untrusted-ca.key"
} >"$cnf"

log="$tmp/log"
run() { # run a command quietly; show its output and stop if it fails
    if ! "$@" >"$log" 2>&1; then
        echo "make-dev-pki.sh: command failed: $*" >&2
        cat "$log" >&2
        exit 1
    fi
}

newkey() { # name
    run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -pkeyopt ec_param_enc:named_curve -out "$stage/$1.key"
}

newca() { # name subject
    newkey "$1"
    run openssl req -config "$cnf" -new -x509 -key "$stage/$1.key" -sha256 -days 3650 \
        -subj "$2" -extensions v3_ca -out "$stage/$1.crt"
}

# leaf NAME CA_SECTION SUBJECT EKU URI... [-- DNS/IP SANs...] [@ start end]
leaf() {
    local name="$1" ca="$2" subj="$3" eku="$4"; shift 4
    local ext="$tmp/ext/$name.cnf" i=0 dates=()
    {
        echo "[ ext ]"
        echo "basicConstraints       = critical, CA:false"
        echo "keyUsage               = critical, digitalSignature"
        echo "extendedKeyUsage       = $eku"
        echo "subjectKeyIdentifier   = hash"
        echo "authorityKeyIdentifier = keyid:always"
        echo "subjectAltName         = @alt"
        echo "[ alt ]"
        while [ $# -gt 0 ]; do
            case "$1" in
                @) dates=(-startdate "$2" -enddate "$3"); shift 3; continue ;;
                DNS:*|IP:*) i=$((i + 1)); echo "${1%%:*}.$i = ${1#*:}" ;;
                *) i=$((i + 1)); echo "URI.$i = $1" ;;
            esac
            shift
        done
    } >"$ext"
    newkey "$name"
    run openssl req -config "$cnf" -new -key "$stage/$name.key" -subj "$subj" -out "$tmp/$name.csr"
    if [ ${#dates[@]} -eq 0 ]; then dates=(-days 730); fi
    run openssl ca -config "$cnf" -name "$ca" -batch -notext -rand_serial "${dates[@]}" \
        -extfile "$ext" -extensions ext -in "$tmp/$name.csr" -out "$stage/$name.crt"
}

domain="jjj.carbon"
regions=(CN-TJ CN-BJ CN-HE)

# --- real development CA and the per-region identities ---------------------
newca ca "/O=JJJ Carbon/CN=JJJ Carbon Dev CA"
for r in "${regions[@]}"; do
    leaf "$r-gateway"  ca_dev "/O=JJJ Carbon/OU=$r/CN=$r gateway"  "serverAuth, clientAuth" \
        "spiffe://$domain/$r/gateway/gw1" DNS:localhost IP:127.0.0.1
    leaf "$r-registry" ca_dev "/O=JJJ Carbon/OU=$r/CN=$r registry" "clientAuth" \
        "spiffe://$domain/$r/registry/reg1"
    leaf "$r-operator" ca_dev "/O=JJJ Carbon/OU=$r/CN=$r operator" "clientAuth" \
        "spiffe://$domain/$r/operator/op1"
    leaf "$r-auditor"  ca_dev "/O=JJJ Carbon/OU=$r/CN=$r auditor"  "clientAuth" \
        "spiffe://$domain/$r/auditor/aud1"
done

# --- negative-test certificates ---------------------------------------------
newca untrusted-ca "/O=JJJ Carbon Test/CN=JJJ Carbon Untrusted Test CA"
leaf untrusted-registry ca_untrusted "/O=JJJ Carbon Test/OU=CN-TJ/CN=CN-TJ registry (untrusted CA)" \
    "clientAuth" "spiffe://$domain/CN-TJ/registry/rogue"

past_start="$(date -u -d '30 days ago' +%Y%m%d%H%M%SZ)"
past_end="$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)"
leaf expired-registry ca_dev "/O=JJJ Carbon/OU=CN-TJ/CN=CN-TJ registry (expired)" \
    "clientAuth" "spiffe://$domain/CN-TJ/registry/expired" @ "$past_start" "$past_end"

leaf revoked-registry ca_dev "/O=JJJ Carbon/OU=CN-TJ/CN=CN-TJ registry (revoked)" \
    "clientAuth" "spiffe://$domain/CN-TJ/registry/revoked"

leaf two-uri-registry ca_dev "/O=JJJ Carbon/OU=CN-TJ/CN=CN-TJ registry (two URIs)" \
    "clientAuth" "spiffe://$domain/CN-TJ/registry/a" "spiffe://$domain/CN-TJ/registry/b"

leaf wrong-domain-registry ca_dev "/O=JJJ Carbon/OU=CN-TJ/CN=CN-TJ registry (wrong domain)" \
    "clientAuth" "spiffe://other.domain/CN-TJ/registry/x"

# --- CRL ---------------------------------------------------------------------
run openssl ca -config "$cnf" -name ca_dev -batch -revoke "$stage/revoked-registry.crt" \
    -crl_reason keyCompromise
run openssl ca -config "$cnf" -name ca_dev -batch -gencrl -crldays 30 -out "$stage/ca.crl"
crl_hash="$(openssl crl -in "$stage/ca.crl" -noout -hash)"
cp "$stage/ca.crl" "$stage/crl/$crl_hash.r0"

# --- install into OUTDIR ------------------------------------------------------
names=(ca)
for r in "${regions[@]}"; do names+=("$r-gateway" "$r-registry" "$r-operator" "$r-auditor"); done
names+=(untrusted-ca untrusted-registry expired-registry revoked-registry two-uri-registry wrong-domain-registry)

if [ ! -d "$out" ]; then mkdir -p -- "$out"; chmod 0755 -- "$out"; fi
[ -d "$out/crl" ] || mkdir -m 0755 -- "$out/crl"
# stale hashed CRLs from an earlier run
for f in "$out"/crl/*.r[0-9]*; do
    [ -e "$f" ] || continue
    case "${f##*/}" in [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].r[0-9]*) rm -f -- "$f" ;; esac
done
made=()
for n in "${names[@]}"; do
    made+=("$n.crt" "$n.key")
    [ "$n" = ca ] && made+=(ca.crl "crl/$crl_hash.r0")
done
for rel in "${made[@]}"; do
    case "$rel" in *.key) mode=0600 ;; *) mode=0644 ;; esac
    rm -f -- "$out/$rel"
    cp -- "$stage/$rel" "$out/$rel"
    chmod "$mode" -- "$out/$rel"
done

# --- report --------------------------------------------------------------------
uris() { # cert -> space-separated URI SANs
    openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
        tr ',' '\n' | sed -n 's/^ *URI://p' | tr '\n' ' ' | sed 's/ $//'
}
echo "Made in $out:"
for rel in "${made[@]}"; do
    f="$out/$rel"
    case "$rel" in
        *.key) printf '  %-28s private key (PKCS#8, mode %s)\n' "$rel" "$(stat -c %a -- "$f")" ;;
        *.crt)
            cn="$(openssl x509 -in "$f" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')"
            na="$(openssl x509 -in "$f" -noout -enddate | cut -d= -f2)"
            u="$(uris "$f")"
            printf '  %-28s %s; %suntil %s\n' "$rel" "$cn" "${u:+$u; }" "$na" ;;
        *) printf '  %-28s CRL of JJJ Carbon Dev CA, next update %s\n' "$rel" \
               "$(openssl crl -in "$f" -noout -nextupdate | cut -d= -f2)" ;;
    esac
done

# --- check every expectation ---------------------------------------------------
fails=0
ok()  { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; fails=$((fails + 1)); }

verify() { # expect(ok|<errno>) cert [extra openssl verify args...]
    local want="$1" crt="$2"; shift 2
    local res
    if res="$(openssl verify -no-CApath -no-CAstore -CAfile "$out/ca.crt" -crl_check \
                -CRLfile "$out/ca.crl" "$@" "$out/$crt" 2>&1)"; then
        if [ "$want" = ok ]; then ok "verify $crt $*"; else bad "verify $crt: expected error $want, got OK"; fi
    else
        local code
        code="$(printf '%s\n' "$res" | sed -n 's/^error \([0-9]*\) at .*/\1/p' | head -n1)"
        if [ "$want" = "$code" ]; then
            ok "verify $crt fails as expected: $(printf '%s\n' "$res" | sed -n 's/^error [0-9]* at [0-9]* depth lookup: //p' | head -n1)"
        else
            bad "verify $crt: expected ${want}, got: $(printf '%s' "$res" | tr '\n' ' ')"
        fi
    fi
}

echo "Checks:"
certs=()
for rel in "${made[@]}"; do case "$rel" in *.crt) certs+=("$rel") ;; esac; done

for rel in "${certs[@]}"; do
    name="${rel%.crt}"
    f="$out/$rel" k="$out/$name.key"
    text="$(openssl x509 -in "$f" -noout -text)"
    if ! grep -q 'NIST CURVE: P-256' <<<"$text" || ! grep -q 'Signature Algorithm: ecdsa-with-SHA256' <<<"$text"; then
        bad "$rel is not ECDSA P-256 / SHA-256"
    fi
    [ "$(head -n1 "$k")" = "-----BEGIN PRIVATE KEY-----" ] || bad "$name.key is not PKCS#8 PEM"
    [ "$(stat -c %a -- "$k")" = 600 ] || bad "$name.key mode is not 0600"
    [ "$(openssl pkey -in "$k" -pubout)" = "$(openssl x509 -in "$f" -noout -pubkey)" ] \
        || bad "$name.key does not match $rel"
    case "$name" in
        *ca) continue ;;
    esac
    n="$(uris "$f" | wc -w)"
    want=1; [ "$name" = two-uri-registry ] && want=2
    [ "$n" -eq "$want" ] || bad "$rel has $n URI SANs, expected $want"
done
[ "$fails" -eq 0 ] && ok "all keys PKCS#8 P-256 mode 0600 and matching; URI SAN counts as expected"

# CA
cat="$(openssl x509 -in "$out/ca.crt" -noout -ext basicConstraints,keyUsage)"
if grep -q 'CA:TRUE' <<<"$cat" && grep -q 'Certificate Sign, CRL Sign' <<<"$cat"; then
    ok "ca.crt is a CA (keyCertSign, cRLSign)"
else
    bad "ca.crt lacks CA:true / keyCertSign,cRLSign"
fi

# SPIFFE IDs
for r in "${regions[@]}"; do
    for pair in gateway:gw1 registry:reg1 operator:op1 auditor:aud1; do
        role="${pair%%:*}" id="${pair#*:}"
        got="$(uris "$out/$r-$role.crt")"
        [ "$got" = "spiffe://$domain/$r/$role/$id" ] || bad "$r-$role.crt URI is '$got'"
    done
    san="$(openssl x509 -in "$out/$r-gateway.crt" -noout -ext subjectAltName)"
    if ! grep -q 'DNS:localhost' <<<"$san" || ! grep -q 'IP Address:127.0.0.1' <<<"$san"; then
        bad "$r-gateway.crt lacks DNS:localhost / IP:127.0.0.1"
    fi
done

# chain + CRL for every leaf signed by the dev CA
for r in "${regions[@]}"; do
    verify ok "$r-gateway.crt" -x509_strict -purpose sslserver
    verify ok "$r-gateway.crt" -x509_strict -purpose sslclient
    for role in registry operator auditor; do
        verify ok "$r-$role.crt" -x509_strict -purpose sslclient
    done
done
verify ok two-uri-registry.crt -purpose sslclient
verify ok wrong-domain-registry.crt -purpose sslclient
verify 23 revoked-registry.crt          # certificate revoked
verify 10 expired-registry.crt          # certificate has expired
verify 20 untrusted-registry.crt        # unable to get local issuer certificate

if openssl x509 -in "$out/expired-registry.crt" -noout -checkend 0 >/dev/null; then
    bad "expired-registry.crt is not expired (checkend 0)"
else
    ok "expired-registry.crt is expired (checkend 0)"
fi
if openssl verify -no-CApath -no-CAstore -CAfile "$out/untrusted-ca.crt" "$out/untrusted-registry.crt" >/dev/null 2>&1; then
    ok "untrusted-registry.crt chains to untrusted-ca.crt"
else
    bad "untrusted-registry.crt does not chain to untrusted-ca.crt"
fi

# the hashed CRL directory works for a hash-dir lookup (as gRPC's crl_directory uses)
if [ "$crl_hash" = "$(openssl x509 -in "$out/ca.crt" -noout -hash)" ]; then
    ok "crl/$crl_hash.r0 named by the CA subject hash"
else
    bad "CRL hash $crl_hash differs from the CA subject hash"
fi
if res="$(openssl verify -no-CAstore -CAfile "$out/ca.crt" -CApath "$out/crl" -crl_check \
            "$out/revoked-registry.crt" 2>&1)" || ! grep -q '^error 23 ' <<<"$res"; then
    bad "revoked-registry.crt not rejected through crl/: $res"
else
    ok "revoked-registry.crt rejected through crl/ lookup"
fi
if openssl verify -no-CAstore -CAfile "$out/ca.crt" -CApath "$out/crl" -crl_check \
        "$out/CN-TJ-registry.crt" >/dev/null 2>&1; then
    ok "CN-TJ-registry.crt accepted through crl/ lookup"
else
    bad "CN-TJ-registry.crt not accepted through crl/ lookup"
fi

# --- audit signing keys: Ed25519, separate from every TLS key (DESIGN §8) ---------
for r in "${regions[@]}"; do
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$out/$r-audit-signing.key" 2>/dev/null)
    openssl pkey -in "$out/$r-audit-signing.key" -pubout -out "$out/$r-audit-signing.pub" 2>/dev/null
    if openssl pkey -pubin -in "$out/$r-audit-signing.pub" -noout -text 2>/dev/null | grep -q ED25519; then
        ok "$r-audit-signing.key/.pub: Ed25519 checkpoint signing key"
    else
        bad "$r-audit-signing.pub is not an Ed25519 public key"
    fi
done

# --- the federation's activity secret (settlement/activity_key.h): one file, the
# same in every region, keys activity fingerprints for vintages from 2000 on ---
(umask 077 && printf '# VINTAGE_FROM SECRET (hex), settlement/activity_key.h\n2000 %s\n' \
    "$(openssl rand -hex 32)" >"$out/federation-activity.secret")
if grep -Eq '^2000 [0-9a-f]{64}$' "$out/federation-activity.secret"; then
    ok "federation-activity.secret: 32-byte secret for vintages from 2000"
else
    bad "federation-activity.secret is malformed"
fi

if [ "$fails" -ne 0 ]; then
    echo "make-dev-pki.sh: $fails check(s) failed" >&2
    exit 1
fi
echo "All checks passed."
