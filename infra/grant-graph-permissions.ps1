#!/usr/bin/env pwsh
#Requires -Version 7.2
<#
.SYNOPSIS
Grants the Microsoft Graph application permissions the sync needs (IdentityRiskEvent.Read.All and
IdentityRiskyUser.Read.All) to a managed identity or any service principal. PowerShell twin of
grant-graph-permissions.sh; the managed-identity equivalent of "Grant admin consent".

.DESCRIPTION
Idempotent: reads the identity's existing app role assignments and creates only the missing ones, printing
"already granted" or "granted" for each permission. Runs as the azd postprovision hook on Windows (inputs
from the azd environment) or by hand.

The Azure CLI provides the sign-in: the script asks it for a Microsoft Graph token
(az account get-access-token) and calls Graph with Invoke-RestMethod, which avoids the quoting problems of
passing JMESPath queries and URLs through az.cmd on Windows.

Needs: Azure CLI signed in (az login) to the identity's tenant as Privileged Role Administrator or Global
Administrator. Granting Microsoft Graph application permissions requires one of these roles; Application
Administrator and Cloud Application Administrator cannot grant Microsoft Graph app roles.

.PARAMETER PrincipalId
Object (principal) id of the managed identity. Default: $env:MANAGED_IDENTITY_PRINCIPAL_ID (set by azd).

.PARAMETER Cloud
global | usgov | usgovdod. Default: $env:GRAPH_CLOUD, else global.

.PARAMETER Tenant
Expected tenant id; the script refuses to run signed in to another tenant. Default: $env:AZURE_TENANT_ID.

.PARAMETER DryRun
Read and report; change nothing.

.PARAMETER WaitSeconds
How long to wait for a new identity to appear in Microsoft Graph. Default: $env:GRANT_WAIT_SECONDS, else 120.

.EXAMPLE
./infra/grant-graph-permissions.ps1 -PrincipalId (azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID) -DryRun
#>
[CmdletBinding()]
param(
    [string]$PrincipalId,
    [string]$Cloud,
    [string]$Tenant,
    [switch]$DryRun,
    [int]$WaitSeconds = -1
)

$ErrorActionPreference = 'Stop'
$GraphAppId = '00000003-0000-0000-c000-000000000000'
$Roles = @('IdentityRiskEvent.Read.All', 'IdentityRiskyUser.Read.All')
$GuidPattern = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

function Fail([string]$Message) {
    [Console]::Error.WriteLine("grant-graph-permissions: error: $Message")
    exit 1
}

if (-not $PrincipalId) { $PrincipalId = $env:MANAGED_IDENTITY_PRINCIPAL_ID }
if (-not $Cloud) { $Cloud = if ($env:GRAPH_CLOUD) { $env:GRAPH_CLOUD } else { 'global' } }
if (-not $Tenant) { $Tenant = $env:AZURE_TENANT_ID }
if ($WaitSeconds -lt 0) { $WaitSeconds = if ($env:GRANT_WAIT_SECONDS) { [int]$env:GRANT_WAIT_SECONDS } else { 120 } }
$Az = if ($env:AZ) { $env:AZ } else { 'az' }

if (-not $PrincipalId) {
    Fail "no managed identity given: pass -PrincipalId <object id> or set MANAGED_IDENTITY_PRINCIPAL_ID (azd sets it after 'azd provision')"
}
if ($PrincipalId -notmatch $GuidPattern) { Fail "principal id '$PrincipalId' is not an object id (GUID)" }

switch ($Cloud) {
    'global' { $GraphRoot = 'https://graph.microsoft.com'; $AzCloud = 'AzureCloud' }
    'usgov' { $GraphRoot = 'https://graph.microsoft.us'; $AzCloud = 'AzureUSGovernment' }
    'usgovdod' { $GraphRoot = 'https://dod-graph.microsoft.us'; $AzCloud = 'AzureUSGovernment' }
    default { Fail "unknown cloud '$Cloud': use global, usgov or usgovdod (Identity Protection is not offered in Azure China)" }
}

if (-not (Get-Command $Az -ErrorAction SilentlyContinue)) {
    Fail "Azure CLI '$Az' not found: install it (https://aka.ms/azure-cli) or set AZ"
}

# Runs az with simple arguments (no quotes, spaces or shell metacharacters); returns trimmed stdout.
function Invoke-AzText([string]$What, [string[]]$Arguments) {
    $errFile = [System.IO.Path]::GetTempFileName()
    $previousPreference = $ErrorActionPreference
    $ErrorActionPreference = 'Continue' # stderr of a native command must not become a terminating error
    try {
        $out = & $Az @Arguments 2> $errFile
        $code = $LASTEXITCODE
        $err = (Get-Content -Raw -LiteralPath $errFile -ErrorAction SilentlyContinue) ?? ''
    }
    finally {
        $ErrorActionPreference = $previousPreference
        Remove-Item -LiteralPath $errFile -Force -ErrorAction SilentlyContinue
    }
    if ($code -ne 0) {
        if ($err -match "az login|not logged in|No subscription found|AADSTS|refresh token|expired") {
            Fail "${What}: the Azure CLI is not signed in (or its sign-in expired): run 'az login' (for usgov/usgovdod first 'az cloud set --name AzureUSGovernment'), then run again. az said: $($err.Trim())"
        }
        Fail "${What} failed: $($err.Trim())"
    }
    return (($out | Out-String).Trim())
}

# ---- signed in, to the right cloud and tenant? ----
$signedInTenant = Invoke-AzText 'reading the signed-in account' @('account', 'show', '--query', 'tenantId', '--output', 'tsv')
$azCloudName = Invoke-AzText 'reading the Azure CLI cloud' @('cloud', 'show', '--query', 'name', '--output', 'tsv')
if ($azCloudName -ne $AzCloud) {
    Fail "GRAPH_CLOUD is '$Cloud' but the Azure CLI is set to cloud '$azCloudName': run 'az cloud set --name $AzCloud' and 'az login', then run again"
}
if ($Tenant -and ($Tenant -match $GuidPattern) -and ($Tenant -ne $signedInTenant)) {
    Fail "the Azure CLI is signed in to tenant $signedInTenant but the identity lives in tenant ${Tenant}: run 'az login --tenant $Tenant', then run again"
}
$token = Invoke-AzText 'getting a Microsoft Graph token' @('account', 'get-access-token', '--resource', $GraphRoot, '--query', 'accessToken', '--output', 'tsv')
$headers = @{ Authorization = "Bearer $token" }

Write-Output "Microsoft Graph: $GraphRoot (cloud $Cloud), tenant $signedInTenant"
if ($DryRun) { Write-Output 'Dry run: nothing will be changed.' }

# Calls Graph; returns @{ Ok; Status; Body; Error } instead of throwing, so callers can tell 403/404/400 apart.
function Invoke-Graph([string]$Method, [string]$Url, $Body = $null) {
    $request = @{ Method = $Method; Uri = $Url; Headers = $headers }
    if ($null -ne $Body) {
        $request.Body = ($Body | ConvertTo-Json -Compress)
        $request.ContentType = 'application/json'
    }
    try {
        return @{ Ok = $true; Status = 200; Body = (Invoke-RestMethod @request); Error = '' }
    }
    catch {
        $status = 0
        if ($_.Exception.PSObject.Properties['Response'] -and $_.Exception.Response) {
            $status = [int]$_.Exception.Response.StatusCode
        }
        $detail = if ($_.ErrorDetails -and $_.ErrorDetails.Message) { $_.ErrorDetails.Message } else { $_.Exception.Message }
        return @{ Ok = $false; Status = $status; Body = $null; Error = $detail }
    }
}

function Assert-Graph($Result, [string]$What) {
    if ($Result.Ok) { return }
    if ($Result.Status -eq 403 -or $Result.Error -match 'Authorization_RequestDenied|Insufficient privileges') {
        Fail "${What}: access denied by Microsoft Graph. Granting Microsoft Graph application permissions requires the Entra role Privileged Role Administrator or Global Administrator; sign in as such a user (az login --tenant <tenant>) and run again. Graph said: $($Result.Error)"
    }
    if ($Result.Status -eq 401) {
        Fail "${What}: Microsoft Graph rejected the Azure CLI token (401): run 'az login' again. Graph said: $($Result.Error)"
    }
    Fail "$What failed (HTTP $($Result.Status)): $($Result.Error)"
}

function Get-Property($Object, [string]$Name) {
    if ($null -ne $Object -and $Object.PSObject.Properties[$Name]) { return $Object.PSObject.Properties[$Name].Value }
    return $null
}

# ---- Microsoft Graph's service principal and the app role ids, looked up by value ----
$filter = [uri]::EscapeDataString("appId eq '$GraphAppId'")
$lookup = Invoke-Graph 'GET' "$GraphRoot/v1.0/servicePrincipals?`$filter=$filter&`$select=id,appId,appRoles"
Assert-Graph $lookup 'finding the Microsoft Graph service principal'
$graphSp = @($lookup.Body.value)[0]
if ($null -eq $graphSp) { Fail "the Microsoft Graph service principal (appId $GraphAppId) was not found in tenant $signedInTenant" }

$roleIds = @{}
foreach ($role in $Roles) {
    $appRole = @($graphSp.appRoles | Where-Object { $_.value -eq $role -and $_.allowedMemberTypes -contains 'Application' })[0]
    if ($null -eq $appRole) { Fail "Microsoft Graph in this cloud has no application permission named $role" }
    $roleIds[$role] = [string]$appRole.id
}

# ---- the identity (a new managed identity can take a minute or two to appear in Graph) ----
$waited = 0
while ($true) {
    $mi = Invoke-Graph 'GET' "$GraphRoot/v1.0/servicePrincipals/${PrincipalId}?`$select=id,displayName"
    if ($mi.Ok) { break }
    if ($mi.Status -ne 404) { Assert-Graph $mi "reading the service principal $PrincipalId" }
    if ($waited -ge $WaitSeconds) {
        Fail "no service principal with object id $PrincipalId in tenant $signedInTenant (waited ${waited}s). Pass the managed identity's principal (object) id, not its client id: azd env get-value MANAGED_IDENTITY_PRINCIPAL_ID"
    }
    Write-Output "Waiting for the identity $PrincipalId to appear in Microsoft Graph..."
    Start-Sleep -Seconds 10
    $waited += 10
}
Write-Output "Identity: $($mi.Body.displayName) ($PrincipalId)"

# ---- existing assignments to Microsoft Graph (all pages) ----
$existing = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase)
$next = "$GraphRoot/v1.0/servicePrincipals/$PrincipalId/appRoleAssignments"
while ($next) {
    $page = Invoke-Graph 'GET' $next
    Assert-Graph $page "listing the identity's app role assignments"
    foreach ($assignment in @($page.Body.value)) {
        if ($assignment.resourceId -eq $graphSp.id) { [void]$existing.Add([string]$assignment.appRoleId) }
    }
    $next = Get-Property $page.Body '@odata.nextLink'
}

# ---- grant what is missing ----
$granted = 0
foreach ($role in $Roles) {
    $roleId = $roleIds[$role]
    if ($existing.Contains($roleId)) {
        Write-Output "${role}: already granted"
        continue
    }
    if ($DryRun) {
        Write-Output "${role}: missing (dry run: would grant)"
        continue
    }
    $body = [ordered]@{ principalId = $PrincipalId; resourceId = [string]$graphSp.id; appRoleId = $roleId }
    $result = Invoke-Graph 'POST' "$GraphRoot/v1.0/servicePrincipals/$PrincipalId/appRoleAssignments" $body
    if ($result.Ok) {
        Write-Output "${role}: granted"
        $granted++
    }
    elseif ($result.Error -match 'already exists') {
        Write-Output "${role}: already granted"
    }
    else {
        Assert-Graph $result "granting $role"
    }
}

if ($granted -gt 0) {
    Write-Output "Granted $granted permission(s). A running app picks them up with its next Graph token (tokens of managed identities can be cached for up to 24 hours)."
}
exit 0
