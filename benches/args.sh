# shellcheck shell=bash
# The bench scripts' command line, read one way: sourced by benches/lib.sh, and by the scripts
# that take none of lib.sh's servers and ports (cmd/static_files.sh). Not a command of its own.
# A script sets BENCH_NAME (its name in messages) before sourcing this file.

# usage_error MESSAGE: a wrong argument; exit status 2.
usage_error() { echo "$BENCH_NAME: $* (try --help)" >&2; exit 2; }
# show_help FILE: the comment block at the top of FILE (after the #! line), unindented.
show_help() { sed -n '2,/^[^#]/p' "$1" | sed '/^[^#]/d; s/^# \{0,1\}//'; }
# positive_int NAME VALUE: VALUE is a whole number above zero, or a usage error.
positive_int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "$1 must be a positive whole number, not '$2'"; }

# parse_args ARG...: the command line, read against the table FLAGS the script declares:
#   declare -A FLAGS=([--reps]=REPS [--skip-build]=SKIP_BUILD=1)
# `--reps N` sets REPS to N; `--skip-build`, whose entry names a value, sets SKIP_BUILD to 1.
# -h or --help prints the script's help and exits 0. An argument that is no flag goes to the
# function OPERAND names, if the script sets one; it returns non-zero for one it does not take.
# Whatever nothing takes is a usage error.
parse_args() {
    local script="${BASH_SOURCE[1]:-$0}" entry
    while (($#)); do
        entry="${FLAGS[$1]-}"
        if [[ "$1" == -h || "$1" == --help ]]; then
            show_help "$script"
            exit 0
        elif [[ "$entry" == *=* ]]; then
            printf -v "${entry%%=*}" '%s' "${entry#*=}"
            shift
        elif [[ -n "$entry" ]]; then
            (($# >= 2)) || usage_error "$1 needs a value"
            printf -v "$entry" '%s' "$2"
            shift 2
        elif [[ -n "${OPERAND:-}" ]] && "$OPERAND" "$1"; then
            shift
        else
            usage_error "unknown argument $1"
        fi
    done
}
