#!/usr/bin/env bash
# Grants the Microsoft Graph application permissions the sync needs to a managed identity (or any service
# principal): IdentityRiskEvent.Read.All and IdentityRiskyUser.Read.All. This is the managed-identity
# equivalent of "Grant admin consent" on an app registration.
#
# Idempotent: reads the identity's existing app role assignments and POSTs only the missing ones.
# Runs as the azd postprovision hook (inputs from the azd environment) or by hand:
#
#   infra/grant-graph-permissions.sh --principal-id <object id> [--cloud global|usgov|usgovdod] [--dry-run]
#
# Inputs (flags win over environment variables):
#   --principal-id ID   object (principal) id of the managed identity   env MANAGED_IDENTITY_PRINCIPAL_ID
#   --cloud NAME        global | usgov | usgovdod (default global)       env GRAPH_CLOUD
#   --tenant ID         expected tenant; refuse to run signed in to another   env AZURE_TENANT_ID
#   --dry-run           read and report, change nothing
#   AZ                  the Azure CLI command to run (default: az); tests point it at a fake
#   GRANT_WAIT_SECONDS  how long to wait for a new identity to appear in Microsoft Graph (default 120)
#
# Needs: Azure CLI signed in (az login) to the identity's tenant as Privileged Role Administrator or
# Global Administrator (granting Microsoft Graph application permissions requires one of these roles;
# Application Administrator and Cloud Application Administrator cannot grant Microsoft Graph app roles).
set -euo pipefail

readonly GRAPH_APP_ID='00000003-0000-0000-c000-000000000000'
readonly ROLES=('IdentityRiskEvent.Read.All' 'IdentityRiskyUser.Read.All')

AZ_CMD="${AZ:-az}"
PRINCIPAL_ID="${MANAGED_IDENTITY_PRINCIPAL_ID:-}"
CLOUD="${GRAPH_CLOUD:-global}"
EXPECTED_TENANT="${AZURE_TENANT_ID:-}"
DRY_RUN=false
WAIT_SECONDS="${GRANT_WAIT_SECONDS:-120}"
WAIT_STEP=10
ERR_FILE="$(mktemp)"
trap 'rm -f "$ERR_FILE"' EXIT

usage() { # the comment block at the top of this file
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

log() { printf '%s\n' "$*"; }
die() {
  printf 'grant-graph-permissions: error: %s\n' "$*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --principal-id) [[ $# -ge 2 ]] || die "--principal-id needs a value"; PRINCIPAL_ID="$2"; shift 2 ;;
    --principal-id=*) PRINCIPAL_ID="${1#*=}"; shift ;;
    --cloud) [[ $# -ge 2 ]] || die "--cloud needs a value"; CLOUD="$2"; shift 2 ;;
    --cloud=*) CLOUD="${1#*=}"; shift ;;
    --tenant) [[ $# -ge 2 ]] || die "--tenant needs a value"; EXPECTED_TENANT="$2"; shift 2 ;;
    --tenant=*) EXPECTED_TENANT="${1#*=}"; shift ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[[ -n "$PRINCIPAL_ID" ]] || die "no managed identity given: pass --principal-id <object id> or set MANAGED_IDENTITY_PRINCIPAL_ID (azd sets it after 'azd provision')"
[[ "$PRINCIPAL_ID" =~ $GUID_RE ]] || die "principal id '$PRINCIPAL_ID' is not an object id (GUID)"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "GRANT_WAIT_SECONDS must be a whole number of seconds"

case "$CLOUD" in
  global) GRAPH_ROOT='https://graph.microsoft.com'; AZ_CLOUDS='AzureCloud' ;;
  usgov) GRAPH_ROOT='https://graph.microsoft.us'; AZ_CLOUDS='AzureUSGovernment' ;;
  usgovdod) GRAPH_ROOT='https://dod-graph.microsoft.us'; AZ_CLOUDS='AzureUSGovernment' ;;
  *) die "unknown cloud '$CLOUD': use global, usgov or usgovdod (Identity Protection is not offered in Azure China)" ;;
esac

command -v "$AZ_CMD" >/dev/null 2>&1 || die "Azure CLI '$AZ_CMD' not found: install it (https://aka.ms/azure-cli) or set AZ"

# Explains a failed az call: privileges, sign-in, or the raw error.
explain_failure() {
  local what="$1" err
  err="$(cat "$ERR_FILE")"
  if grep -qiE 'Authorization_RequestDenied|Insufficient privileges|Forbidden|403' <<<"$err"; then
    die "$what: access denied by Microsoft Graph. Granting Microsoft Graph application permissions requires the Entra role Privileged Role Administrator or Global Administrator; sign in as such a user (az login --tenant <tenant>) and run again. Graph said: $err"
  fi
  if grep -qiE "az login|not logged in|No subscription found|AADSTS|refresh token|expired" <<<"$err"; then
    die "$what: the Azure CLI is not signed in (or its sign-in expired): run 'az login' (add --tenant <tenant id>), then run again. az said: $err"
  fi
  die "$what failed: $err"
}

# az_tsv <description> <az args...>: runs az, prints its stdout; explains and exits on failure.
az_tsv() {
  local what="$1"
  shift
  if ! "$AZ_CMD" "$@" 2>"$ERR_FILE"; then
    explain_failure "$what"
  fi
}

graph_get() { # graph_get <description> <path and query> <JMESPath>
  az_tsv "$1" rest --method get --url "$GRAPH_ROOT$2" --resource "$GRAPH_ROOT" --query "$3" --output tsv
}

# ---- signed in, to the right cloud and tenant? ----
if ! SIGNED_IN_TENANT="$("$AZ_CMD" account show --query tenantId --output tsv 2>"$ERR_FILE")"; then
  die "the Azure CLI is not signed in: run 'az login' (for usgov/usgovdod first 'az cloud set --name AzureUSGovernment'), then run again. az said: $(cat "$ERR_FILE")"
fi
SIGNED_IN_TENANT="$(tr -d '\r' <<<"$SIGNED_IN_TENANT")"
AZ_CLOUD_NAME="$(az_tsv 'reading the Azure CLI cloud' cloud show --query name --output tsv | tr -d '\r')"
if [[ "$AZ_CLOUD_NAME" != "$AZ_CLOUDS" ]]; then
  die "GRAPH_CLOUD is '$CLOUD' but the Azure CLI is set to cloud '$AZ_CLOUD_NAME': run 'az cloud set --name $AZ_CLOUDS' and 'az login', then run again"
fi
lower() { tr '[:upper:]' '[:lower:]' <<<"$1"; }
if [[ -n "$EXPECTED_TENANT" && "$EXPECTED_TENANT" =~ $GUID_RE && "$(lower "$EXPECTED_TENANT")" != "$(lower "$SIGNED_IN_TENANT")" ]]; then
  die "the Azure CLI is signed in to tenant $SIGNED_IN_TENANT but the identity lives in tenant $EXPECTED_TENANT: run 'az login --tenant $EXPECTED_TENANT', then run again"
fi

log "Microsoft Graph: $GRAPH_ROOT (cloud $CLOUD), tenant $SIGNED_IN_TENANT"
$DRY_RUN && log "Dry run: nothing will be changed."

# ---- Microsoft Graph's service principal and the app role ids, looked up by value ----
GRAPH_FILTER="/v1.0/servicePrincipals?\$filter=appId%20eq%20%27${GRAPH_APP_ID}%27&\$select=id,appId,appRoles"
GRAPH_SP_ID="$(graph_get 'finding the Microsoft Graph service principal' "$GRAPH_FILTER" 'value[0].id' | tr -d '\r')"
[[ -n "$GRAPH_SP_ID" && "$GRAPH_SP_ID" != "None" ]] || die "the Microsoft Graph service principal (appId $GRAPH_APP_ID) was not found in tenant $SIGNED_IN_TENANT"

# ROLE_IDS[i] is the app role id of ROLES[i] (indexed arrays: macOS still ships bash 3.2).
ROLE_IDS=()
for role in "${ROLES[@]}"; do
  id="$(graph_get "reading the app role $role" "$GRAPH_FILTER" \
    "value[0].appRoles[?value=='$role' && contains(allowedMemberTypes, 'Application')].id | [0]" | tr -d '\r')"
  [[ -n "$id" && "$id" != "None" ]] || die "Microsoft Graph in this cloud has no application permission named $role"
  ROLE_IDS+=("$id")
done

# ---- the identity (a new managed identity can take a minute or two to appear in Graph) ----
waited=0
while :; do
  if found="$("$AZ_CMD" rest --method get --url "$GRAPH_ROOT/v1.0/servicePrincipals/$PRINCIPAL_ID?\$select=id,displayName" \
    --resource "$GRAPH_ROOT" --query displayName --output tsv 2>"$ERR_FILE")"; then
    MI_NAME="$(tr -d '\r' <<<"$found")"
    break
  fi
  if ! grep -qiE 'Request_ResourceNotFound|does not exist|NotFound|404' "$ERR_FILE"; then
    explain_failure "reading the service principal $PRINCIPAL_ID"
  fi
  if ((waited >= WAIT_SECONDS)); then
    die "no service principal with object id $PRINCIPAL_ID in tenant $SIGNED_IN_TENANT (waited ${waited}s). Pass the managed identity's principal (object) id, not its client id: azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID"
  fi
  log "Waiting for the identity $PRINCIPAL_ID to appear in Microsoft Graph..."
  sleep "$WAIT_STEP"
  waited=$((waited + WAIT_STEP))
done
log "Identity: $MI_NAME ($PRINCIPAL_ID)"

# ---- existing assignments to Microsoft Graph (all pages) ----
EXISTING=""
next="$GRAPH_ROOT/v1.0/servicePrincipals/$PRINCIPAL_ID/appRoleAssignments"
while [[ -n "$next" && "$next" != "None" ]]; do
  page="$(az_tsv 'listing the identity'"'"'s app role assignments' rest --method get --url "$next" --resource "$GRAPH_ROOT" \
    --query "value[?resourceId=='$GRAPH_SP_ID'].appRoleId" --output tsv)"
  EXISTING+="$page"$'\n'
  next="$(az_tsv 'listing the identity'"'"'s app role assignments' rest --method get --url "$next" --resource "$GRAPH_ROOT" \
    --query '"@odata.nextLink"' --output tsv | tr -d '\r')"
done
EXISTING="$(tr -d '\r' <<<"$EXISTING")"

# ---- grant what is missing ----
granted=0
for i in "${!ROLES[@]}"; do
  role="${ROLES[$i]}"
  role_id="${ROLE_IDS[$i]}"
  if grep -qixF "$role_id" <<<"$EXISTING"; then
    log "$role: already granted"
    continue
  fi
  if $DRY_RUN; then
    log "$role: missing (dry run: would grant)"
    continue
  fi
  body="{\"principalId\":\"$PRINCIPAL_ID\",\"resourceId\":\"$GRAPH_SP_ID\",\"appRoleId\":\"$role_id\"}"
  if "$AZ_CMD" rest --method post --url "$GRAPH_ROOT/v1.0/servicePrincipals/$PRINCIPAL_ID/appRoleAssignments" \
    --resource "$GRAPH_ROOT" --headers 'Content-Type=application/json' --body "$body" --query id --output tsv >/dev/null 2>"$ERR_FILE"; then
    log "$role: granted"
    granted=$((granted + 1))
  elif grep -qi 'already exists' "$ERR_FILE"; then
    log "$role: already granted"
  else
    explain_failure "granting $role"
  fi
done

if ((granted > 0)); then
  log "Granted $granted permission(s). A running app picks them up with its next Graph token (tokens of managed identities can be cached for up to 24 hours)."
fi
