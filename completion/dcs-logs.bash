# bash completion for dcs-logs (lua-dcs).
# Installed as share/bash-completion/completions/dcs-logs (make install), or
# sourced from ~/.bashrc:  . /path/to/completion/dcs-logs.bash
# Completes commands, options, --days and --region values, files for
# --output/--ca-file/--from, directories for --dest, and log ids after
# `link INSTANCE` (each pair's) and `download INSTANCE` (from `dcs-logs list
# --all --json`, with the options already typed, at most 10 seconds).

_dcs_logs_commands="collect list link download fetch help"
_dcs_logs_global="--region --endpoint --ak --sk --project --security-token --ca-file --insecure
  --proxy --request-timeout --retries --json --quiet --no-progress --verbose --debug --help --version"
# Options that take a value (the next word).
_dcs_logs_valued="--region --endpoint --ak --sk --project --security-token --ca-file --proxy
  --request-timeout --retries --days --replication --offset --limit --output -o --dest --timeout
  --poll-interval --parallel --from"
# The regions of lua/dcs/regions.lua (spec/cli_docs_spec.lua keeps them equal).
_dcs_logs_regions="af-south-1 cn-north-2 cn-north-4 cn-north-1 cn-north-9 cn-north-12 cn-east-2
  cn-east-3 cn-east-4 cn-east-5 cn-south-1 cn-south-2 cn-southwest-2 ap-southeast-1 ap-southeast-2
  ap-southeast-3 ap-southeast-4 ap-southeast-5 ru-northwest-2 ru-moscow-1 sa-brazil-1 la-north-2
  la-south-2 na-mexico-1 ae-ad-1 tr-west-1 me-east-1 eu-west-101 eu-west-0 my-kualalumpur-1"

_dcs_logs_command_flags() {
  case $1 in
    collect) echo "--days --replication" ;;
    list) echo "--offset --limit --all" ;;
    link) echo "--parallel --from" ;;
    download) echo "--output" ;;
    fetch) echo "--days --replication --dest --timeout --poll-interval --parallel --from" ;;
  esac
}

# The log ids of an instance; $1 the instance, the rest the options typed.
_dcs_logs_log_ids() {
  local instance=$1
  shift
  timeout 10 "$_dcs_logs_program" "$@" --quiet --json list "$instance" --all 2>/dev/null |
    grep -o '"id":"[^"]*"' | cut -d'"' -f4
}

_dcs_logs() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local cmd="" i w
  local -a args=() options=()
  _dcs_logs_program=${COMP_WORDS[0]}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ " ${_dcs_logs_valued//$'\n'/ } " == *" $w "* ]]; then
      [[ " $_dcs_logs_global " == *" $w "* ]] && options+=("$w" "${COMP_WORDS[i+1]}")
      ((i++))
    elif [[ $w == -* ]]; then
      [[ " ${_dcs_logs_global//$'\n'/ } " == *" $w "* && $w != --json && $w != --help ]] && options+=("$w")
    elif [[ -z $cmd ]]; then
      cmd=$w
    else
      args+=("$w")
    fi
  done

  case $prev in
    --days) COMPREPLY=($(compgen -W "0 1 3 7" -- "$cur")); return ;;
    --region) COMPREPLY=($(compgen -W "$_dcs_logs_regions" -- "$cur")); return ;;
    --output|-o|--ca-file|--from) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --dest) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
  esac
  if [[ " ${_dcs_logs_valued//$'\n'/ } " == *" $prev "* ]]; then
    COMPREPLY=()
    return
  fi

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$_dcs_logs_global $(_dcs_logs_command_flags "$cmd")" -- "$cur"))
  elif [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$_dcs_logs_commands" -- "$cur"))
  elif [[ $cmd == help && ${#args[@]} -eq 0 ]]; then
    COMPREPLY=($(compgen -W "${_dcs_logs_commands% help}" -- "$cur"))
  elif [[ $cmd == link && $((${#args[@]} % 2)) -eq 1 ]]; then
    # the LOG of the last INSTANCE typed: link takes INSTANCE LOG pairs
    COMPREPLY=($(compgen -W "$(_dcs_logs_log_ids "${args[-1]}" "${options[@]}")" -- "$cur"))
  elif [[ $cmd == download && ${#args[@]} -eq 1 && ${args[0]} != *://* ]]; then
    COMPREPLY=($(compgen -W "$(_dcs_logs_log_ids "${args[0]}" "${options[@]}")" -- "$cur"))
  fi
}

complete -F _dcs_logs dcs-logs
