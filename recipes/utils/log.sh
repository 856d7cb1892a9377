#!/usr/bin/env bash
# Timestamped logging for recipe scripts. Source it:  . utils/log.sh
#   log "message"   -> "2026-01-01 12:00:00 (run.sh:42:main) message" on stderr
#   die "message"   -> logs "ERROR: message" and exits 1

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) $*" 1>&2
}

die() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]:-main}) ERROR: $*" 1>&2
  exit 1
}
