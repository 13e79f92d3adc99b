// azd entry point (`azd up` / `azd provision`): creates the resource group and deploys resources.bicep
// into it. Parameters come from main.parameters.json, which maps them to azd environment values of the
// same names as the app settings (azd env set SYNC_SCHEDULE_RISK_DETECTIONS '0 */5 * * * *').
// Without azd: az deployment sub create -l <region> -f infra/main.bicep -p environmentName=<name> location=<region>
// or deploy infra/resources.bicep into an existing resource group (see docs/deploy.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the environment (azd environment name); used for the resource group name, resource names and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. Must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name. Default: rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------- hosting ----------------

@description('Memory of each Flex Consumption instance in MB (billed per GB-second of this size).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Maximum instances per function group (Flex Consumption accepts 40 to 1000; the timers are singletons anyway).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Node.js version of the Functions runtime.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '22'

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Optional: object id of the person or service principal that runs the risk-sync CLI against the tables (gets Storage Table Data Contributor). Empty: none.')
param operatorPrincipalId string = ''

@description('Type of operatorPrincipalId.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

// ---------------- the app's settings (src/config/settings.ts) ----------------

@description('AZURE_TENANT_ID: the tenant synced, written on every row. Empty: the tenant of this subscription, which is also the only tenant the managed identity can get tokens in (set it only to use the tenant\'s domain name instead of its id).')
param tenantId string = ''

@description('GRAPH_CLOUD: national cloud of Microsoft Graph (global, usgov = US Gov L4, usgovdod = US Gov L5/DoD).')
@allowed([
  'global'
  'usgov'
  'usgovdod'
])
param graphCloud string = 'global'

@description('GRAPH_MAX_RPS: Graph requests per second for the tenant, shared by all collections (Identity Protection allows 1 per tenant for all apps together).')
@minLength(1)
param graphMaxRps string = '1'

@description('GRAPH_MAX_RETRIES: retries of one Graph request after 429, 5xx or a transport failure.')
@minLength(1)
param graphMaxRetries string = '8'

@description('GRAPH_RETRY_BASE_MS: first retry delay in milliseconds; doubles on each retry, with jitter, up to 60 s.')
@minLength(1)
param graphRetryBaseMs string = '2000'

@description('GRAPH_REQUEST_TIMEOUT_SECONDS: a Graph request with no complete answer by then is retried.')
@minLength(1)
param graphRequestTimeoutSeconds string = '60'

@description('SYNC_LOOKBACK_MINUTES: window re-read behind the watermark on every run (late and re-scored detections).')
@minLength(1)
param syncLookbackMinutes string = '30'

@description('SYNC_INITIAL_DAYS: the first run (or --full) reads only this many days back; empty reads everything Graph still holds.')
param syncInitialDays string = ''

@description('SYNC_TIME_BUDGET_SECONDS: how long one timer run may page before it checkpoints and stops; keep it below functionTimeout in host.json (600 s).')
@minLength(1)
param syncTimeBudgetSeconds string = '540'

@description('SYNC_LEASE_SECONDS: lease that keeps two runs of one collection apart; renewed while a run is alive.')
@minLength(1)
param syncLeaseSeconds string = '120'

@description('SYNC_CHECKPOINT_SECONDS: Least time between two checkpoints of a pass in progress (0: after every page); a killed run resumes from the last one.')
param syncCheckpointSeconds string = '1'

@description('SYNC_SCHEDULE_RISK_DETECTIONS: NCRONTAB schedule (6 fields, UTC) of the risk detections timer.')
@minLength(11)
param syncScheduleRiskDetections string = '0 */10 * * * *'

@description('SYNC_SCHEDULE_RISKY_USERS: NCRONTAB schedule (6 fields, UTC) of the risky users timer.')
@minLength(11)
param syncScheduleRiskyUsers string = '0 5,35 * * * *'

@description('TABLE_RISK_DETECTIONS: table that holds risk detections (lowercase names avoid a Power Query Entra-auth issue, see docs/deploy.md).')
@minLength(3)
@maxLength(63)
param tableRiskDetections string = 'RiskDetections'

@description('TABLE_RISKY_USERS: table that holds risky users.')
@minLength(3)
@maxLength(63)
param tableRiskyUsers string = 'RiskyUsers'

@description('TABLE_SYNC_STATE: table of watermarks, checkpoints, leases and aggregates.')
@minLength(3)
@maxLength(63)
param tableSyncState string = 'SyncState'

@description('TABLE_SYNC_RUNS: table with one row per run.')
@minLength(3)
@maxLength(63)
param tableSyncRuns string = 'SyncRuns'

@description('SNAPSHOT_STALE_AFTER_RUNS: a collection is stale when its last success is older than this many schedule intervals.')
@minLength(1)
param snapshotStaleAfterRuns string = '3'

@description('HTTP_AUTH_LEVEL: auth level of the HTTP functions.')
@allowed([
  'function'
  'admin'
  'anonymous'
])
param httpAuthLevel string = 'function'

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'entra-risk-sync'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    resourceToken: resourceToken
    tags: tags
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    nodeVersion: nodeVersion
    logRetentionDays: logRetentionDays
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    tenantId: tenantId
    graphCloud: graphCloud
    graphMaxRps: graphMaxRps
    graphMaxRetries: graphMaxRetries
    graphRetryBaseMs: graphRetryBaseMs
    graphRequestTimeoutSeconds: graphRequestTimeoutSeconds
    syncLookbackMinutes: syncLookbackMinutes
    syncInitialDays: syncInitialDays
    syncTimeBudgetSeconds: syncTimeBudgetSeconds
    syncLeaseSeconds: syncLeaseSeconds
    syncCheckpointSeconds: syncCheckpointSeconds
    syncScheduleRiskDetections: syncScheduleRiskDetections
    syncScheduleRiskyUsers: syncScheduleRiskyUsers
    tableRiskDetections: tableRiskDetections
    tableRiskyUsers: tableRiskyUsers
    tableSyncState: tableSyncState
    tableSyncRuns: tableSyncRuns
    snapshotStaleAfterRuns: snapshotStaleAfterRuns
    httpAuthLevel: httpAuthLevel
  }
}

// azd stores these in the environment (azd env get-values); hooks receive them as environment variables.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = resources.outputs.tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output TABLES_ENDPOINT string = resources.outputs.tablesEndpoint
output MANAGED_IDENTITY_PRINCIPAL_ID string = resources.outputs.managedIdentityPrincipalId
output MANAGED_IDENTITY_CLIENT_ID string = resources.outputs.managedIdentityClientId
output MANAGED_IDENTITY_NAME string = resources.outputs.managedIdentityName
output GRAPH_CLOUD string = resources.outputs.graphCloud
output AZURE_APPLICATION_INSIGHTS_NAME string = resources.outputs.applicationInsightsName
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = resources.outputs.logAnalyticsWorkspaceName
