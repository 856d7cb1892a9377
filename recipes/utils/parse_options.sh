#!/usr/bin/env bash
# Parse command-line options, Kaldi style. Source it from a script:  . utils/parse_options.sh
#
# Option format is `--option-name value`; it sets the shell variable `option_name` to `value`.
# The variable must already be defined (with its default) before sourcing, otherwise the option
# is unknown and the script exits with an error.  A variable whose default is `true`/`false` only
# accepts `true`/`false`.  `--help` (or `-h`) prints $help_message, by default the script's header
# comment (from line 2 to `set -euo pipefail`), and exits 0.
# `--config FILE` sources FILE before the other options are applied, so the command line wins
# over the config file (several --config options are sourced left to right).
# Parsing stops at the first argument that does not start with `--`; the rest stays in "$@".

# Config files first: they have lower priority than the command line.
for ((argpos = 1; argpos < $#; argpos++)); do
  if [ "${!argpos}" == "--config" ]; then
    argpos_plus1=$((argpos + 1))
    config=${!argpos_plus1}
    [ ! -r "$config" ] && echo "$0: missing config '$config'" 1>&2 && exit 1
    . "$config"
  fi
done

while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      if [ -z "${help_message:-}" ]; then
        # The script's header comment (line 2 up to `set -euo pipefail`); a run.sh has cd'ed to its
        # own dir, so $0 may only be found by its base name.
        script=$0
        [ -f "$script" ] || script=$(basename "$0")
        [ -f "$script" ] && help_message=$(sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$script")
      fi
      if [ -z "${help_message:-}" ]; then echo "No help found." 1>&2
      else printf "%b\n" "$help_message" 1>&2; fi
      exit 0 ;;
    --*=*)
      echo "$0: options to scripts must be of the form --name value, got '$1'" 1>&2
      exit 1 ;;
    --*)
      name=${1#--}
      name=${name//-/_}
      if ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "$0: invalid option $1" 1>&2; exit 1
      fi
      # ${var+x} is empty only when var is unset: an option nobody declared is a typo.
      if [ -z "$(eval "echo \${$name+x}")" ]; then
        echo "$0: invalid option $1" 1>&2; exit 1
      fi
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" 1>&2; exit 1
      fi
      oldval=${!name}
      was_bool=false
      if [ "$oldval" == "true" ] || [ "$oldval" == "false" ]; then was_bool=true; fi
      # printf -v keeps spaces, quotes and $ in the value literal (e.g. --cmd "slurm.pl --mem 4G").
      printf -v "$name" '%s' "$2"
      if $was_bool && [[ "$2" != "true" && "$2" != "false" ]]; then
        echo "$0: expected \"true\" or \"false\": $1 $2" 1>&2
        exit 1
      fi
      shift 2 ;;
    *) break ;;
  esac
done

# An empty --cmd is almost always a scripting error (an unset $train_cmd, say).
[ -n "${cmd+x}" ] && [ -z "$cmd" ] && echo "$0: empty argument to --cmd option" 1>&2 && exit 1

true
