#!/bin/sh
# import.sh: create privtrail's QID records and DSM event mappings in IBM QRadar
# through its REST API, so that privtrail's LEEF events are categorised on
# arrival (outputs/qradar/README.md, "Categorised on arrival").
#
#   QRADAR_URL=https://qradar.example.net QRADAR_SEC_TOKEN=... ./import.sh [options]
#
# Options:
#   --log-source-type NAME   the log source type whose ID is looked up
#                            (default: "Universal LEEF")
#   --log-source-type-id ID  use this log source type ID, no look-up
#   --file FILE              the mapping (default: event_mappings.json beside
#                            this script)
#   --dry-run                look everything up, report, create nothing
#   --insecure               do not verify the console's TLS certificate
#                            (never the default; prefer QRADAR_CA_FILE)
#
# Environment:
#   QRADAR_URL          https://<console>, no path
#   QRADAR_SEC_TOKEN    an authorized service token (Admin > Authorized Services)
#                       with the permission to manage log source types / DSMs
#   QRADAR_CA_FILE      CA bundle that signed the console's certificate
#   QRADAR_API_VERSION  sent as the Version header when set (e.g. 17.0)
#
# Endpoints (IBM QRadar REST API, data_classification and config/event_sources):
#   GET  /api/config/event_sources/log_source_management/log_source_types
#   GET  /api/data_classification/low_level_categories/{id}
#   GET  /api/data_classification/qid_records            POST same
#   GET  /api/data_classification/dsm_event_mappings     POST same
#
# Idempotent: a DSM event mapping that exists for the log source type, event ID
# and event category is left as it is (whatever QID it points to); a QID record
# with the same name and low-level category is reused instead of created. Before
# it writes anything the script checks that each low-level category ID in the
# file has, on this console, the name the file expects.
#
# Needs curl and jq. Exit status: 0 done, 1 error (nothing after the error is
# written), 2 usage.

set -eu

prog=import.sh
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}
usage() {
	sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

type_name='Universal LEEF'
type_id=
file=$(dirname "$0")/event_mappings.json
dry_run=
insecure=
while [ $# -gt 0 ]; do
	case $1 in
	--log-source-type) [ $# -ge 2 ] || usage; type_name=$2; shift 2 ;;
	--log-source-type-id) [ $# -ge 2 ] || usage; type_id=$2; shift 2 ;;
	--file) [ $# -ge 2 ] || usage; file=$2; shift 2 ;;
	--dry-run) dry_run=1; shift ;;
	--insecure) insecure=1; shift ;;
	-h | --help) usage ;;
	*) printf '%s: unknown argument %s\n' "$prog" "$1" >&2; usage ;;
	esac
done

command -v curl >/dev/null 2>&1 || die "curl is not installed"
command -v jq >/dev/null 2>&1 || die "jq is not installed"
[ -r "$file" ] || die "cannot read $file"
jq -e '.qid_records | type == "array"' "$file" >/dev/null 2>&1 || die "$file is not a privtrail event_mappings.json"

base=${QRADAR_URL:-}
base=${base%/}
case $base in
https://?*) ;;
'') die "set QRADAR_URL to https://<console>" ;;
*) die "QRADAR_URL must start with https:// (got $base)" ;;
esac
token=${QRADAR_SEC_TOKEN:-}
[ -n "$token" ] || die "set QRADAR_SEC_TOKEN to an authorized service token"
case $type_id in
'' | *[!0-9]*) [ -z "$type_id" ] || die "--log-source-type-id must be a number" ;;
esac

# Everything curl needs, the token included, goes into a config file only this
# user can read: nothing secret on a command line (ps) or in the environment
# of curl; -q keeps a ~/.curlrc (insecure, say) out of it.
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/privtrail-qradar.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
plain() { # a value that goes into the curl config between double quotes
	case $1 in
	*[\"\\]* | *"
"*) die "$2 holds a double quote, a backslash or a newline" ;;
	esac
}
plain "$token" QRADAR_SEC_TOKEN
plain "${QRADAR_API_VERSION:-}" QRADAR_API_VERSION
plain "${QRADAR_CA_FILE:-}" QRADAR_CA_FILE
if [ -n "${QRADAR_CA_FILE:-}" ] && [ ! -r "$QRADAR_CA_FILE" ]; then
	die "cannot read QRADAR_CA_FILE $QRADAR_CA_FILE"
fi
{
	printf 'silent\nshow-error\n'
	printf 'proto = "=https"\nproto-redir = "=https"\n'
	printf 'connect-timeout = 30\nmax-time = 120\n'
	printf 'header = "SEC: %s"\n' "$token"
	printf 'header = "Accept: application/json"\n'
	if [ -n "${QRADAR_API_VERSION:-}" ]; then
		printf 'header = "Version: %s"\n' "$QRADAR_API_VERSION"
	fi
	if [ -n "${QRADAR_CA_FILE:-}" ]; then
		printf 'cacert = "%s"\n' "$QRADAR_CA_FILE"
	fi
	if [ -n "$insecure" ]; then
		printf 'insecure\n'
	fi
} >"$tmp/curlrc"
if [ -n "$insecure" ]; then
	printf '%s: WARNING: --insecure: the TLS certificate of %s is not verified\n' "$prog" "$base" >&2
fi

# api METHOD PATH [curl options]: the body lands in $tmp/body, the HTTP status
# in $status.
status=
api() {
	method=$1 path=$2
	shift 2
	status=$(curl -q -K "$tmp/curlrc" -X "$method" -o "$tmp/body" -w '%{http_code}' "$@" "$base$path") ||
		die "$method $path: the request failed (see curl's message above)"
}
# fail WHAT: the HTTP error of the last request, with QRadar's message.
fail() {
	msg=$(jq -r '[.message, .description] | map(select(. != null and . != "")) | join(": ")' "$tmp/body" 2>/dev/null || true)
	die "$1: HTTP $status${msg:+: $msg}"
}
# get PATH FILTER FIELDS: a list GET with a filter.
get() {
	api GET "$1" -G --data-urlencode "filter=$2" --data-urlencode "fields=$3"
	[ "$status" = 200 ] || fail "GET $1 ($2)"
}
# post PATH JSON: the JSON body of a POST.
post() {
	printf '%s\n' "$2" >"$tmp/request"
	api POST "$1" -H 'Content-Type: application/json' --data-binary "@$tmp/request"
}
noquote() {
	case $1 in
	*[\"\\]*) die "$2 $1 holds a double quote or a backslash: it cannot go into a QRadar filter" ;;
	esac
}

# 1. The log source type.
if [ -z "$type_id" ]; then
	noquote "$type_name" "log source type"
	get /api/config/event_sources/log_source_management/log_source_types "name=\"$type_name\"" id,name
	n=$(jq 'length' "$tmp/body")
	[ "$n" = 1 ] || die "$n log source types are named \"$type_name\": pass --log-source-type-id"
	type_id=$(jq -r '.[0].id' "$tmp/body")
	case $type_id in '' | *[!0-9]*) die "log source type \"$type_name\": unexpected id $type_id" ;; esac
	printf 'log source type "%s": id %s\n' "$type_name" "$type_id"
fi

# 2. The low-level categories: the IDs must mean on this console what the
# file says, or every event would be categorised wrong.
tab=$(printf '\t')
jq -r '[.qid_records[] | [.qid_record.low_level_category_id, .low_level_category_name]] | unique[] | @tsv' "$file" >"$tmp/categories"
bad=
while IFS=$tab read -r id want; do
	api GET "/api/data_classification/low_level_categories/$id" -G --data-urlencode 'fields=id,name'
	[ "$status" = 200 ] || fail "low-level category $id ($want)"
	# The same name, ignoring case and surrounding blanks.
	if ! jq -e --arg want "$want" 'def norm: ascii_downcase | sub("^\\s+"; "") | sub("\\s+$"; "");
		(.name // "" | norm) == ($want | norm)' "$tmp/body" >/dev/null; then
		printf '%s: low-level category %s is "%s" on this console, the mapping expects "%s"\n' \
			"$prog" "$id" "$(jq -r '.name // ""' "$tmp/body")" "$want" >&2
		bad=1
	fi
done <"$tmp/categories"
[ -z "$bad" ] || die "the low-level categories differ: nothing was created; fix the categories in the mapping first"

# 3. The event mappings that exist for the log source type (one request), and
# the plan: one line per mapping of the file with the index of its QID record,
# the record's name and low-level category, the event ID and category, and the
# QID record an existing mapping points to (empty: to be created).
get /api/data_classification/dsm_event_mappings "log_source_type_id=$type_id" \
	log_source_event_id,log_source_event_category,qid_record_id
mv "$tmp/body" "$tmp/existing"
jq -r --slurpfile have "$tmp/existing" '
	($have[0] | map({key: (.log_source_event_id + "\t" + .log_source_event_category),
		value: (.qid_record_id | tostring)}) | from_entries) as $h
	| .qid_records | to_entries[] | .key as $i | .value.qid_record as $q
	| .value.dsm_event_mappings[]
	| [$i, $q.name, $q.low_level_category_id, .log_source_event_id, .log_source_event_category,
		($h[.log_source_event_id + "\t" + .log_source_event_category] // "")]
	| @tsv' "$file" >"$tmp/plan"

# 4. The QID records and the missing event mappings.
qid_created=0 qid_reused=0 map_created=0 map_existing=0
last= qid_id=
while IFS=$tab read -r i name llc eid ecat have <&3; do
	if [ -n "$have" ]; then
		printf 'exists   %s / %s -> QID record %s\n' "$eid" "$ecat" "$have"
		map_existing=$((map_existing + 1))
		continue
	fi
	noquote "$name" "QID name"
	noquote "$eid" "event ID"
	noquote "$ecat" "event category"
	if [ "$i" != "$last" ]; then
		last=$i qid_id=
	fi
	if [ -z "$qid_id" ]; then
		get /api/data_classification/qid_records "name=\"$name\" and low_level_category_id=$llc" id,qid
		read -r n id qid <<EOF
$(jq -r '"\(length) \(.[0].id) \(.[0].qid)"' "$tmp/body")
EOF
		if [ "$n" != 0 ]; then
			qid_id=$id
			printf 'reuse    QID record %s "%s" (QID %s)\n' "$qid_id" "$name" "$qid"
			qid_reused=$((qid_reused + 1))
		elif [ -n "$dry_run" ]; then
			qid_id=new
			printf 'create   QID record "%s" (dry run)\n' "$name"
			qid_created=$((qid_created + 1))
		else
			post /api/data_classification/qid_records \
				"$(jq -c --argjson t "$type_id" --argjson i "$i" '.qid_records[$i].qid_record + {log_source_type_id: $t}' "$file")"
			[ "$status" = 201 ] || fail "creating QID record \"$name\""
			read -r qid_id qid <<EOF
$(jq -r '"\(.id) \(.qid)"' "$tmp/body")
EOF
			case $qid_id in '' | *[!0-9]*) die "QID record \"$name\": unexpected id $qid_id" ;; esac
			printf 'created  QID record %s "%s" (QID %s)\n' "$qid_id" "$name" "$qid"
			qid_created=$((qid_created + 1))
		fi
	fi
	if [ -n "$dry_run" ]; then
		printf 'create   %s / %s -> "%s" (dry run)\n' "$eid" "$ecat" "$name"
		map_created=$((map_created + 1))
		continue
	fi
	post /api/data_classification/dsm_event_mappings "$(jq -n -c --argjson t "$type_id" --argjson q "$qid_id" \
		--arg e "$eid" --arg c "$ecat" \
		'{log_source_type_id: $t, log_source_event_id: $e, log_source_event_category: $c, qid_record_id: $q}')"
	case $status in
	201)
		printf 'created  %s / %s -> QID record %s\n' "$eid" "$ecat" "$qid_id"
		map_created=$((map_created + 1))
		;;
	409) # created since the look-up
		printf 'exists   %s / %s\n' "$eid" "$ecat"
		map_existing=$((map_existing + 1))
		;;
	*) fail "creating the event mapping $eid / $ecat" ;;
	esac
done 3<"$tmp/plan"

printf '%s: log source type %s: QID records %s created, %s reused; event mappings %s created, %s already there%s\n' \
	"$prog" "$type_id" "$qid_created" "$qid_reused" "$map_created" "$map_existing" "${dry_run:+ (dry run: nothing was created)}"
