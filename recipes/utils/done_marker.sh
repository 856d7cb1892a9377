#!/usr/bin/env bash
# `.done` markers that make recipe stages resumable. Source it:  . utils/done_marker.sh
#
#   if ! stage_done data/fbank compute-fbank; then
#     ... do the work ...
#     mark_done data/fbank compute-fbank
#   fi
#
# stage_done DIR NAME  succeeds when DIR/.NAME.done exists, unless the script's option
#                      --force true is set ($force == true), which reruns every stage.
# mark_done DIR NAME   creates DIR/.NAME.done (and DIR), recording when it was made.
# clear_done DIR NAME  removes the marker, e.g. before a stage rewrites its outputs.
# move_aside DIR       a non-empty DIR becomes DIR.old-<time> (kept, never deleted), for a
#                      --force rerun that must not resume or mix with what DIR holds; prints
#                      the new name.

stage_done() {
  [ $# -eq 2 ] || { echo "stage_done: usage: stage_done DIR NAME" 1>&2; return 2; }
  [ "${force:-false}" == true ] && return 1
  [ -f "$1/.$2.done" ]
}

mark_done() {
  [ $# -eq 2 ] || { echo "mark_done: usage: mark_done DIR NAME" 1>&2; return 2; }
  mkdir -p "$1" && date '+%Y-%m-%d %H:%M:%S' > "$1/.$2.done"
}

clear_done() {
  [ $# -eq 2 ] || { echo "clear_done: usage: clear_done DIR NAME" 1>&2; return 2; }
  rm -f "$1/.$2.done"
}

move_aside() {
  [ $# -eq 1 ] || { echo "move_aside: usage: move_aside DIR" 1>&2; return 2; }
  if [ -d "$1" ] && [ -n "$(ls -A "$1")" ]; then
    local old_dir=${1%/}.old-$(date +%Y%m%d-%H%M%S)
    mv "$1" "$old_dir" && echo "$old_dir"
  fi
}
