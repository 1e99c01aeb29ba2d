# function_lengths.awk - prints "FILE:LINE NAME LINES" for every function
# definition of a C file written in the project's style (the signature starts
# at column 0, its last line ends with "{", the body ends with "}" at column
# 0). LINES counts from the signature's first line to the closing brace.
FNR == 1 { sig_start = 0; in_body = 0 }
in_body {
    if ($0 ~ /^}/) {
        printf "%s:%d %s %d\n", FILENAME, sig_start, name, FNR - sig_start + 1
        in_body = 0; sig_start = 0
    }
    next
}
/^[A-Za-z_]/ && $0 !~ /^(typedef|struct [A-Za-z_0-9]+ *\{|enum|union|extern|#)/ && $0 !~ /[;=]/ {
    sig_start = FNR; sig = $0
}
sig_start && FNR > sig_start && /^[ \t]/ && $0 !~ /;/ { sig = sig " " $0 }
sig_start && /\) *\{$/ && sig ~ /\(/ {
    name = sig; gsub(/__attribute__ *\(\([^)]*\)\)/, "", name)
    sub(/\(.*/, "", name); n = split(name, parts, /[ *]+/); name = parts[n]
    in_body = 1
    next
}
sig_start && /;$/ { sig_start = 0 }
